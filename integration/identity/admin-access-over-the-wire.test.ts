import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRecords } from "../../src/audit/audit-store.ts";
import { startCustosWithProvider, uniqueName, type CustosWithProvider } from "../support/custos-with-provider.ts";
import { fetchWithJar } from "../support/oidc-driver.ts";
import { storeKinds } from "../support/stores.ts";
import { CLIENT_ID, startTestProvider } from "./oidc-fixtures.ts";
import type { DevProvider } from "../../src/dev/provider/dev-provider.ts";

/**
 * Issue 4 over the wire: bearer id_tokens and browser sessions from a real provider. Each
 * bearer test has a domain of its own; the browser tests use acme, the one domain the
 * provider's registered callbacks return to.
 */
describe.each(storeKinds())("admin and auditor access over HTTP against a real OpenID provider (%s)", (kind) => {
  let env: CustosWithProvider;
  let other: DevProvider;

  beforeAll(async () => {
    env = await startCustosWithProvider({ kind });
    // A second provider, whose accounts have the same `sub`s.
    other = await startTestProvider(["globex"]);
  });
  afterAll(async () => {
    await other.close();
    await env.close();
  });

  /** A fresh domain on the second provider (admin alice, auditor bob@example.org there). */
  async function domainOnOtherProvider(): Promise<string> {
    const domain = uniqueName("g");
    (await env.api.putDomain(env.operatorToken, domain, { issuer: other.issuer, client_id: CLIENT_ID, admins: ["alice"], auditors: ["bob@example.org"] })).body();
    return domain;
  }
  const verifyWith = (domain: string, token: string) => env.api.verifyAudit(token, domain);
  const lastEvent = async (chain: string) => (await readRecords(env.custos.db, chain, 0, 10_000)).at(-1);

  it("lets the domain's auditor verify its chain with an id_token from the provider", async () => {
    const { domain } = await env.freshTenant();
    const response = await verifyWith(domain, await env.idToken("bob@example.org", "password"));
    expect(response.status).toBe(200);
    expect(response.body()).toMatchObject({ chain: domain, ok: true });
  });

  it("refuses an admin who is not an auditor with 403 permission_denied, audited", async () => {
    const { domain, admin } = await env.freshTenant();
    const response = await verifyWith(domain, admin);
    expect(response.status).toBe(403);
    expect(response.problem).toMatchObject({ code: "permission_denied" });
    expect(await lastEvent(domain)).toMatchObject({ actor: `user:oidc:${domain}:alice`, decision: "denied", reason: "permission_denied" });
  });

  it("lets an admin sign a checkpoint (auditor or admin), though not read the chain", async () => {
    const { domain, admin } = await env.freshTenant();
    const response = await env.api.signCheckpoint(admin, domain);
    expect(response.status).toBe(201);
    expect(response.body()).toMatchObject({ chain: domain, alg: "EdDSA" });
  });

  it("refuses a token from one provider presented to a domain of another: 401 invalid_token, reason in the audit record only", async () => {
    const globex = await domainOnOtherProvider();
    const response = await verifyWith(globex, await env.idToken("bob@example.org", "password"));
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    expect(response.text).not.toContain("kid_unknown");
    expect(response.problem).toMatchObject({ code: "invalid_token" });
    // The signature is checked against the other provider's keys first: the first one's key is not among them.
    expect(await lastEvent(globex)).toMatchObject({ decision: "denied", reason: "kid_unknown" });
  });

  it("maps the same sub from two providers to two subjects", async () => {
    const { domain } = await env.freshTenant();
    const globex = await domainOnOtherProvider();
    const bob = await env.idToken("bob@example.org", "password");
    expect((await verifyWith(domain, bob)).status).toBe(200);
    expect((await verifyWith(globex, bob)).status).toBe(401);
    const globexEvents = await readRecords(env.custos.db, globex, 0, 10_000);
    expect(globexEvents.some((e) => e.actor === `user:oidc:${domain}:bob@example.org`)).toBe(false);
  });

  it("refuses a token whose signature was tampered with", async () => {
    const { domain } = await env.freshTenant();
    const token = await env.idToken("bob@example.org", "password");
    const [header, payload, signature = ""] = token.split(".");
    const flipped = `${header ?? ""}.${payload ?? ""}.${signature.startsWith("A") ? `B${signature.slice(1)}` : `A${signature.slice(1)}`}`;
    const response = await verifyWith(domain, flipped);
    expect(response.status).toBe(401);
    expect(await lastEvent(domain)).toMatchObject({ decision: "denied", reason: "signature_invalid" });
  });

  it("signs an auditor in through the browser flow: httpOnly session cookie, CSRF on unsafe methods, logout ends it", async () => {
    const { jar, csrf } = await env.browserSession("bob@example.org", "password");
    const cookieHeader = jar.header(new URL(`${env.server.url}/v1/`)) ?? "";
    expect(cookieHeader).toContain("custos_session=");

    const read = await env.api.verifyAudit({ jar }, "acme");
    expect(read.status).toBe(200);

    const withoutCsrf = await env.api.signCheckpoint({ jar }, "acme");
    expect(withoutCsrf.status).toBe(403);
    expect(withoutCsrf.problem).toMatchObject({ code: "csrf_failed" });
    const withCsrf = await env.api.signCheckpoint({ jar, csrf }, "acme");
    expect(withCsrf.status).toBe(201);

    const logout = await fetchWithJar(new URL(`${env.server.url}/auth/logout`), jar, { method: "POST", headers: { "x-csrf-token": csrf } });
    expect(logout.status).toBeLessThan(400);
    const after = await env.api.verifyAudit({ jar }, "acme");
    expect(after.status).toBe(401);
  });

  it("refuses a callback whose state was tampered with, and creates no session", async () => {
    const login = await fetch(`${env.server.url}/auth/acme/login`, { redirect: "manual" });
    expect(login.status).toBe(303);
    const cookie = login.headers.getSetCookie().find((c) => c.startsWith("custos_login="));
    expect(cookie).toBeDefined();
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    const callback = new URL(`${env.server.url}/auth/acme/callback?code=forged&state=forged`);
    const response = await fetch(callback, { headers: { cookie: (cookie ?? "").split(";")[0] ?? "" }, redirect: "manual" });
    expect(response.status).toBe(401);
    expect(response.headers.getSetCookie().some((c) => c.startsWith("custos_session="))).toBe(false);
    expect(await lastEvent("acme")).toMatchObject({ action: "session.create", decision: "denied" });
  });
});

describe("behind a TLS-terminating proxy (CUSTOS_PUBLIC_URL=https://…)", () => {
  let env: CustosWithProvider;
  beforeAll(async () => {
    env = await startCustosWithProvider({ env: { CUSTOS_PUBLIC_URL: "https://custos.example/" } });
  });
  afterAll(async () => {
    await env.close();
  });

  it("marks the sign-in cookie Secure and sends the provider back to the public callback URL", async () => {
    const login = await fetch(`${env.server.url}/auth/acme/login`, { redirect: "manual" });
    expect(login.status).toBe(303);
    const cookie = login.headers.getSetCookie().find((c) => c.startsWith("custos_login="));
    expect(cookie).toMatch(/; Secure/);
    const location = new URL(login.headers.get("location") ?? "");
    expect(location.searchParams.get("redirect_uri")).toBe("https://custos.example/auth/acme/callback");
  });
});
