import { describe, expect, it } from "vitest";
import { accountLabel, describeReasons, renderLoginPage } from "../../../src/dev/provider/interaction-page.ts";
import { importOidcProvider, SUPPRESSED_OIDC_PROVIDER_WARNING } from "../../../src/dev/provider/quiet-import.ts";

describe("the development provider's sign-in page reads as a person wrote it", () => {
  it("labels an account with its name, its role and the id it signs in as", () => {
    expect(accountLabel({ id: "alice", name: "Alice", role: "demo admin" })).toBe("Alice, the demo admin (signs in as alice)");
    expect(accountLabel({ id: "carol", name: "carol" })).toBe("carol");
  });

  it("explains why it asks, in words rather than oidc-provider's reason codes", () => {
    expect(describeReasons(["no_session"])).toEqual(["you are not signed in to this provider yet"]);
    expect(describeReasons(["login_prompt", "max_age"]).join(" ")).toMatch(/sign in again.*more recent sign-in/);
    expect(describeReasons(["essential_acr", "acr_values_not_met"])).toHaveLength(1);
    expect(describeReasons(["something_new"])).toEqual(['the provider\'s check "something_new" asked for a sign-in']);
  });

  it("shows no raw reason codes and no doubled parentheses", () => {
    const html = renderLoginPage({
      uid: "u1", clientId: "custos-dev", accounts: [{ id: "alice", name: "Alice", role: "demo admin" }], selectedAccount: undefined,
      selectedStrength: "mfa", acrValues: "urn:custos:acr:mfa", maxAge: "0", reasons: ["no_session", "max_age_zero"], problem: undefined,
    });
    expect(html).not.toContain("asked because: no_session");
    expect(html).not.toContain("no_session");
    expect(html).not.toMatch(/\) \(/);
    expect(html).toContain("You are asked because you are not signed in to this provider yet; the application needs a sign-in made just now.");
    expect(html).toContain("It asks for: password + one-time code");
    expect(html).toContain("Alice, the demo admin (signs in as alice)");
    expect(html).not.toContain("<script");
  });
});

describe("oidc-provider's runtime warning", () => {
  it("is dropped when the development provider loads oidc-provider, and console.warn is given back", async () => {
    const original = console.warn;
    const seen: unknown[][] = [];
    console.warn = (...args: unknown[]) => { seen.push(args); };
    const spy = console.warn;
    try {
      const oidc = await importOidcProvider();
      expect(typeof oidc.Provider).toBe("function");
      expect(console.warn).toBe(spy);
      expect(seen.filter((args) => String(args[0]).includes(SUPPRESSED_OIDC_PROVIDER_WARNING))).toEqual([]);
      // Anything else still reaches the console.
      console.warn("another warning");
      expect(seen).toContainEqual(["another warning"]);
    } finally {
      console.warn = original;
    }
  });
});
