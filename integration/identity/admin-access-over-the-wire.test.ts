import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRecords } from "../../src/audit/audit-store.ts";
import { startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";
import { fetchWithJar } from "../support/oidc-driver.ts";
import { CLIENT_ID, startTestProvider } from "./oidc-fixtures.ts";
import type { DevProvider } from "../../src/dev/provider/dev-provider.ts";

/** Issue 4 over the wire: bearer id_tokens and browser sessions from a real provider. */
describe("admin and auditor access over HTTP against a real OpenID provider", () => {
  let env: CustosWithProvider;
  let other: DevProvider;

  beforeAll(async () => {
    env = await startCustosWithProvider();
    // A second domain with its own provider, whose accounts have the same `sub`s.
    other = await startTestProvider(["globex"]);
    const created = await env.putDomain("globex", { issuer: other.issuer, client_id: CLIENT_ID, admins: ["alice"], auditors: ["bob@example.org"] });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await other.close();
    await env.close();
  });

  const verifyWith = (domain: string, token: string) =>
    fetch(`${env.server.url}/v1/domains/${domain}/audit/verify`, { headers: { authorization: `Bearer ${token}` } });
  const lastEvent = async (chain: string) => (await readRecords(env.custos.db, chain, 0, 10_000)).at(-1);

  it("lets the domain's auditor verify its chain with an id_token from the provider", async () => {
    const response = await verifyWith("acme", await env.idToken("bob@example.org", "password"));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ chain: "acme", ok: true });
  });

  it("refuses an admin who is not an auditor with 403 permission_denied, audited", async () => {
    const response = await verifyWith("acme", await env.idToken("alice", "mfa"));
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "permission_denied" });
    expect(await lastEvent("acme")).toMatchObject({ actor: "user:oidc:acme:alice", decision: "denied", reason: "permission_denied" });
  });

  it("lets an admin sign a checkpoint (auditor or admin), though not read the chain", async () => {
    const response = await fetch(`${env.server.url}/v1/domains/acme/audit/checkpoints`, {
      method: "POST",
      headers: { authorization: `Bearer ${await env.idToken("alice", "mfa")}` },
    });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ chain: "acme", alg: "EdDSA" });
  });

  it("refuses a token from acme's provider presented to globex: 401 invalid_token, reason in the audit record only", async () => {
    const response = await verifyWith("globex", await env.idToken("bob@example.org", "password"));
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    const body = await response.text();
    expect(body).not.toContain("kid_unknown");
    expect(JSON.parse(body)).toMatchObject({ code: "invalid_token" });
    // The signature is checked against globex's provider's keys first: acme's key is not among them.
    expect(await lastEvent("globex")).toMatchObject({ decision: "denied", reason: "kid_unknown" });
  });

  it("maps the same sub from two providers to two subjects", async () => {
    const acmeBob = await env.idToken("bob@example.org", "password");
    expect((await verifyWith("acme", acmeBob)).status).toBe(200);
    const globexEvents = await readRecords(env.custos.db, "globex", 0, 10_000);
    expect(globexEvents.some((e) => e.actor === "user:oidc:acme:bob@example.org")).toBe(false);
  });

  it("refuses a token whose signature was tampered with", async () => {
    const token = await env.idToken("bob@example.org", "password");
    const [header, payload, signature = ""] = token.split(".");
    const flipped = `${header ?? ""}.${payload ?? ""}.${signature.startsWith("A") ? `B${signature.slice(1)}` : `A${signature.slice(1)}`}`;
    const response = await verifyWith("acme", flipped);
    expect(response.status).toBe(401);
    expect(await lastEvent("acme")).toMatchObject({ decision: "denied", reason: "signature_invalid" });
  });

  it("signs an auditor in through the browser flow: httpOnly session cookie, CSRF on unsafe methods, logout ends it", async () => {
    const { jar, csrf } = await env.browserSession("bob@example.org", "password");
    const cookieHeader = jar.header(new URL(`${env.server.url}/v1/`)) ?? "";
    expect(cookieHeader).toContain("custos_session=");

    const read = await fetchWithJar(new URL(`${env.server.url}/v1/domains/acme/audit/verify`), jar);
    expect(read.status).toBe(200);

    const withoutCsrf = await fetchWithJar(new URL(`${env.server.url}/v1/domains/acme/audit/checkpoints`), jar, { method: "POST" });
    expect(withoutCsrf.status).toBe(403);
    expect(await withoutCsrf.json()).toMatchObject({ code: "csrf_failed" });
    const withCsrf = await fetchWithJar(new URL(`${env.server.url}/v1/domains/acme/audit/checkpoints`), jar, { method: "POST", headers: { "x-csrf-token": csrf } });
    expect(withCsrf.status).toBe(201);

    const logout = await fetchWithJar(new URL(`${env.server.url}/auth/logout`), jar, { method: "POST", headers: { "x-csrf-token": csrf } });
    expect(logout.status).toBeLessThan(400);
    const after = await fetchWithJar(new URL(`${env.server.url}/v1/domains/acme/audit/verify`), jar);
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
