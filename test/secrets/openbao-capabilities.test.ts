import { describe, expect, it } from "vitest";
import { missingCapabilities, requiredCapabilities } from "../../src/secrets/backends/openbao/capabilities.ts";
import { mayFollowRedirect } from "../../src/secrets/backends/openbao/transport.ts";

const LAYOUT = { kvMount: "secret", kvPrefix: "custos", transitMount: "transit", transitKey: "custos", renewable: true };

describe("the capabilities each command needs", () => {
  it("key creation (init) needs update on transit/keys/<key>, not create", () => {
    const init = requiredCapabilities(LAYOUT, "init").find((need) => need.path === "transit/keys/custos");
    expect(init?.capabilities).toEqual(["read", "update"]);
  });

  it("the server never needs to write the key, nor to rewrap", () => {
    const serve = requiredCapabilities(LAYOUT, "serve");
    expect(serve.find((need) => need.path === "transit/keys/custos")?.capabilities).toEqual(["read"]);
    expect(serve.some((need) => need.path.startsWith("transit/rewrap/"))).toBe(false);
  });

  it("the server may delete secret metadata (destroying a deleted secret's every version), and init and rewrap may not", () => {
    const metadata = (purpose: "serve" | "init" | "rewrap") => requiredCapabilities(LAYOUT, purpose).find((need) => need.path.startsWith("secret/metadata/custos/"));
    expect(metadata("serve")?.capabilities).toEqual(["read", "delete"]);
    expect(metadata("init")).toBeUndefined();
    expect(metadata("rewrap")).toBeUndefined();
  });

  it("renew-self is needed only for a renewable token", () => {
    expect(requiredCapabilities({ ...LAYOUT, renewable: false }, "serve").some((need) => need.path === "auth/token/renew-self")).toBe(false);
    expect(requiredCapabilities(LAYOUT, "serve").some((need) => need.path === "auth/token/renew-self")).toBe(true);
  });

  it("KV paths follow the prefix setting", () => {
    const paths = requiredCapabilities({ ...LAYOUT, kvPrefix: "apps/custos" }, "serve").map((need) => need.path);
    expect(paths.filter((entry) => entry.startsWith("secret/")).every((entry) => entry.includes("/apps/custos/"))).toBe(true);
  });
});

describe("missingCapabilities()", () => {
  const required = requiredCapabilities(LAYOUT, "rewrap");
  const all = Object.fromEntries(required.map((need) => [need.path, [...need.capabilities]]));

  it("names each missing capability with its path and purpose", () => {
    expect(missingCapabilities(required, { ...all, "transit/rewrap/custos": ["read"] })).toEqual(["update on transit/rewrap/custos (rewrapping to the newest key version)"]);
  });

  it("root grants everything; deny grants nothing; an absent path grants nothing", () => {
    expect(missingCapabilities(required, Object.fromEntries(required.map((need) => [need.path, ["root"]])))).toEqual([]);
    expect(missingCapabilities(required, { ...all, "transit/keys/custos": ["deny", "read"] })).toHaveLength(1);
    expect(missingCapabilities(required, {})).toHaveLength(required.length);
  });
});

describe("mayFollowRedirect()", () => {
  const configured = new URL("http://127.0.0.1:8200");

  it("follows to https anywhere, or back to the configured origin", () => {
    expect(mayFollowRedirect(new URL("https://bao-2.internal:8200/v1/x"), configured)).toBe(true);
    expect(mayFollowRedirect(new URL("http://127.0.0.1:8200/v1/x"), configured)).toBe(true);
  });

  it("never to plain http on another host or port", () => {
    expect(mayFollowRedirect(new URL("http://bao-2.internal:8200/v1/x"), configured)).toBe(false);
    expect(mayFollowRedirect(new URL("http://127.0.0.1:8201/v1/x"), configured)).toBe(false);
    expect(mayFollowRedirect(new URL("http://bao-2.internal/v1/x"), new URL("https://bao.internal"))).toBe(false);
  });
});
