import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGrantSigningKeys } from "../../src/access/grant-signing-keys.ts";
import { readRecords } from "../../src/audit/audit-store.ts";
import { startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";
import { fetchWithJar } from "../support/oidc-driver.ts";

const MFA = "urn:custos:acr:mfa";

/** Issue 5 over the wire: the RFC 9470 step-up gate and grant issuance, against a real provider. */
describe("step-up and access grants over HTTP", () => {
  let env: CustosWithProvider;
  let nodeId: string;
  let foreignNodeId: string;

  // The server makes every request id; a test's own X-Request-Id labels the request it sent.
  const serverRequestIds = new Map<string, string>();
  const post = async (path: string, token: string, body: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${env.server.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    const label = headers["x-request-id"];
    if (label !== undefined) serverRequestIds.set(label, response.headers.get("x-request-id") ?? "");
    return response;
  };
  const eventsFor = async (label: string) =>
    (await readRecords(env.custos.db, "acme", 0, 100_000)).filter((event) => event.request_id === serverRequestIds.get(label));

  beforeAll(async () => {
    env = await startCustosWithProvider();
    const enrolled = await post("/v1/domains/acme/nodes", await env.idToken("alice", "mfa"), { name: "web-1" });
    expect(enrolled.status).toBe(201);
    nodeId = ((await enrolled.json()) as { node_id: string }).node_id;
    const globex = await env.putDomain("globex", { issuer: env.provider.issuer, client_id: "custos", admins: ["someone-else"], auditors: [] });
    expect(globex.status).toBe(201);
    foreignNodeId = "00000000-0000-4000-8000-000000000001";
  });
  afterAll(async () => {
    await env.close();
  });

  it("denies a password-only admin with the exact RFC 9470 challenge, and audits exactly one record with the reason", async () => {
    const response = await post("/v1/domains/acme/grants", await env.idToken("alice", "password"), { node_id: nodeId, action: "ssh.login" }, { "x-request-id": "stepup-password" });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe(
      `Bearer error="insufficient_user_authentication", error_description="The authentication context class is not sufficient for this action", acr_values="${MFA}", max_age="120"`,
    );
    expect(await response.json()).toMatchObject({ code: "step_up_required", acr_values: [MFA], max_age: 120, reason: "acr_not_acceptable" });
    const events = await eventsFor("stepup-password");
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ action: "access.issue", decision: "denied", reason: "acr_not_acceptable", actor: "user:oidc:acme:alice" });
  });

  it.each([
    ["otp-amr-only", "amr_without_acr"],
    ["mfa-acr-pwd-amr", "amr_insufficient"],
    ["no-acr-no-amr", "acr_missing"],
  ] as const)("denies a provider's %s token with %s, the RFC 9470 challenge, and one audit record", async (strength, reason) => {
    const requestId = `stepup-${strength}`;
    const response = await post("/v1/domains/acme/grants", await env.idToken("alice", strength), { node_id: nodeId, action: "ssh.login" }, { "x-request-id": requestId });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(
      new RegExp(`^Bearer error="insufficient_user_authentication", error_description="[^"]+", acr_values="${MFA}", max_age="120"$`),
    );
    expect(await response.json()).toMatchObject({ code: "step_up_required", acr_values: [MFA], max_age: 120, reason });
    expect(await eventsFor(requestId)).toMatchObject([{ decision: "denied", reason }]);
  });

  it("denies a strong but stale authentication (auth_time older than access.issue's 120 s), then grants a fresh one", async () => {
    const token = await env.idToken("alice", "mfa");
    // Past max_age (120 s): the leeway no longer extends it. 151 s after the sign-in.
    env.advanceClock(151);
    try {
      const stale = await post("/v1/domains/acme/grants", token, { node_id: nodeId, action: "ssh.login" }, { "x-request-id": "stepup-stale" });
      expect(stale.status).toBe(401);
      expect(await stale.json()).toMatchObject({ code: "step_up_required", reason: "auth_time_stale", max_age: 120 });
      expect(await eventsFor("stepup-stale")).toHaveLength(1);
    } finally {
      env.advanceClock(-151);
    }
    const fresh = await post("/v1/domains/acme/grants", token, { node_id: nodeId, action: "ssh.login" });
    expect(fresh.status).toBe(201);
  });

  it("issues a grant that verifies offline against the domain's JWKS, and that another domain's JWKS refuses", async () => {
    const response = await post("/v1/domains/acme/grants", await env.idToken("alice", "mfa"), { node_id: nodeId, action: "ssh.login", ttl_seconds: 60 }, { "x-request-id": "grant-ok" });
    expect(response.status).toBe(201);
    const { grant, jti, expires_at: expiresAt } = (await response.json()) as { grant: string; jti: string; expires_at: string };
    const jwks = (await (await fetch(`${env.server.url}/v1/domains/acme/jwks.json`)).json()) as JSONWebKeySet;
    const { payload, protectedHeader } = await jwtVerify(grant, createLocalJWKSet(jwks), {
      issuer: "urn:custos:domain:acme",
      audience: `node:${nodeId}`,
      algorithms: ["EdDSA"],
    });
    expect(protectedHeader.alg).toBe("EdDSA");
    expect(payload).toMatchObject({ sub: "oidc:acme:alice", act: { sub: "oidc:acme:alice" }, action: "ssh.login", acr: MFA, jti });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(60);
    expect(new Date(expiresAt).getTime()).toBe((payload.exp ?? 0) * 1000);
    expect(await eventsFor("grant-ok")).toMatchObject([{ decision: "granted", reason: "ok", details: { jti } }]);

    // Another domain has its own key: a verifier holding globex's published keys refuses acme's grant.
    const globexKey = await createGrantSigningKeys({ db: env.custos.db, wrapper: env.custos.backend, publishRetiredForSeconds: 930 }).activeKey("globex");
    const foreign = (await (await fetch(`${env.server.url}/v1/domains/globex/jwks.json`)).json()) as JSONWebKeySet;
    expect(foreign.keys.map((key) => key.kid)).toEqual([globexKey.kid]);
    await expect(jwtVerify(grant, createLocalJWKSet(foreign), { algorithms: ["EdDSA"] })).rejects.toThrow();
  });

  it("refuses an admin acting on a node outside their domain with 403, audited once", async () => {
    const response = await post("/v1/domains/acme/grants", await env.idToken("alice", "mfa"), { node_id: foreignNodeId, action: "ssh.login" }, { "x-request-id": "grant-foreign" });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "permission_denied" });
    expect(await eventsFor("grant-foreign")).toMatchObject([{ decision: "denied", reason: "permission_denied" }]);
  });

  it("sends a browser session back through sign-in with acr_values and max_age, and grants after the step-up", async () => {
    const weak = await env.browserSession("alice", "password");
    const denied = await fetchWithJar(new URL(`${env.server.url}/v1/domains/acme/grants`), weak.jar, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": weak.csrf },
      body: JSON.stringify({ node_id: nodeId, action: "ssh.login" }),
    });
    expect(denied.status).toBe(401);
    const body = (await denied.json()) as { sign_in_url: string; code: string };
    expect(body.code).toBe("step_up_required");
    const signIn = new URL(body.sign_in_url, env.server.url);
    expect(signIn.pathname).toBe("/auth/acme/login");
    expect(signIn.searchParams.get("acr_values")).toBe(MFA);
    expect(signIn.searchParams.get("max_age")).toBe("120");

    const strong = await env.browserSession("alice", "mfa", { acrValues: MFA, maxAge: 120, jar: weak.jar });
    const granted = await fetchWithJar(new URL(`${env.server.url}/v1/domains/acme/grants`), strong.jar, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": strong.csrf },
      body: JSON.stringify({ node_id: nodeId, action: "ssh.login" }),
    });
    expect(granted.status).toBe(201);
  });

  it("issues no grant when the audit store fails: 503 audit_unavailable", async () => {
    const token = await env.idToken("alice", "mfa");
    await env.custos.db.query("ALTER TABLE audit_events ADD CONSTRAINT test_no_grants CHECK (action <> 'access.issue') NOT VALID");
    try {
      const response = await post("/v1/domains/acme/grants", token, { node_id: nodeId, action: "ssh.login" });
      expect(response.status).toBe(503);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ code: "audit_unavailable" });
      expect(body).not.toHaveProperty("grant");
    } finally {
      await env.custos.db.query("ALTER TABLE audit_events DROP CONSTRAINT test_no_grants");
    }
  });

  it("refuses the operator token and a node bearer on an elevated route", async () => {
    const operator = await post("/v1/domains/acme/grants", env.operatorToken, { node_id: nodeId, action: "ssh.login" });
    expect(operator.status).toBe(401);
    expect(await operator.json()).toMatchObject({ code: "invalid_token" });
  });
});
