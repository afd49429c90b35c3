import { createLocalJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGrantSigningKeys } from "../../src/access/signing-keys.ts";
import { readRecords } from "../../src/audit/audit-store.ts";
import type { ApiAnswer } from "../support/api-client.ts";
import { startCustosWithProvider, type CustosWithProvider, type Tenant } from "../support/custos-with-provider.ts";
import { storeKinds } from "../support/stores.ts";

const MFA = "urn:custos:acr:mfa";

/**
 * Issue 5 over the wire: the RFC 9470 step-up gate and grant issuance, against a real
 * provider. Each test has a domain and a node of its own, so the tests run in any order.
 */
describe.each(storeKinds())("step-up and access grants over HTTP (%s)", (kind) => {
  let env: CustosWithProvider;

  /** A fresh domain with one node, and that node's id. */
  async function tenantWithNode(): Promise<Tenant & { nodeId: string }> {
    const tenant = await env.freshTenant({ nodes: ["web-1"] });
    return { ...tenant, nodeId: tenant.nodes[0]?.node_id ?? "" };
  }
  const eventsOf = async (domain: string, answer: ApiAnswer<unknown>) =>
    (await readRecords(env.custos.db, domain, 0, 100_000)).filter((event) => event.request_id === answer.requestId);

  beforeAll(async () => {
    env = await startCustosWithProvider({ kind });
  });
  afterAll(async () => {
    await env.close();
  });

  it("denies a password-only admin with the exact RFC 9470 challenge, and audits exactly one record with the reason", async () => {
    const { domain, nodeId } = await tenantWithNode();
    const response = await env.api.issueGrant(await env.idToken("alice", "password"), domain, { node_id: nodeId, action: "ssh.login" });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe(
      `Bearer error="insufficient_user_authentication", error_description="The authentication context class is not sufficient for this action", acr_values="${MFA}", max_age="120"`,
    );
    expect(response.problem).toMatchObject({ code: "step_up_required", acr_values: [MFA], max_age: 120, reason: "acr_not_acceptable" });
    const events = await eventsOf(domain, response);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ action: "access.issue", decision: "denied", reason: "acr_not_acceptable", actor: `user:oidc:${domain}:alice` });
  });

  it.each([
    ["otp-amr-only", "amr_without_acr"],
    ["mfa-acr-pwd-amr", "amr_insufficient"],
    ["no-acr-no-amr", "acr_missing"],
  ] as const)("denies a provider's %s token with %s, the RFC 9470 challenge, and one audit record", async (strength, reason) => {
    const { domain, nodeId } = await tenantWithNode();
    const response = await env.api.issueGrant(await env.idToken("alice", strength), domain, { node_id: nodeId, action: "ssh.login" });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(
      new RegExp(`^Bearer error="insufficient_user_authentication", error_description="[^"]+", acr_values="${MFA}", max_age="120"$`),
    );
    expect(response.problem).toMatchObject({ code: "step_up_required", acr_values: [MFA], max_age: 120, reason });
    expect(await eventsOf(domain, response)).toMatchObject([{ decision: "denied", reason }]);
  });

  it("denies a strong but stale authentication (auth_time older than access.issue's 120 s), then grants a fresh one", async () => {
    const { domain, nodeId } = await tenantWithNode();
    const token = await env.idToken("alice", "mfa");
    // Past max_age (120 s): the leeway no longer extends it. 151 s after the sign-in.
    env.advanceClock(151);
    try {
      const stale = await env.api.issueGrant(token, domain, { node_id: nodeId, action: "ssh.login" });
      expect(stale.status).toBe(401);
      expect(stale.problem).toMatchObject({ code: "step_up_required", reason: "auth_time_stale", max_age: 120 });
      expect(await eventsOf(domain, stale)).toHaveLength(1);
    } finally {
      env.advanceClock(-151);
    }
    const fresh = await env.api.issueGrant(token, domain, { node_id: nodeId, action: "ssh.login" });
    expect(fresh.status).toBe(201);
  });

  it("issues a grant that verifies offline against the domain's JWKS, and that another domain's JWKS refuses", async () => {
    const { domain, admin, nodeId } = await tenantWithNode();
    const response = await env.api.issueGrant(admin, domain, { node_id: nodeId, action: "ssh.login", ttl_seconds: 60 });
    expect(response.status).toBe(201);
    const { grant, jti, expires_at: expiresAt } = response.body();
    const jwks = (await env.api.jwks(domain)).body();
    const { payload, protectedHeader } = await jwtVerify(grant, createLocalJWKSet(jwks), {
      issuer: `urn:custos:domain:${domain}`,
      audience: `node:${nodeId}`,
      algorithms: ["EdDSA"],
    });
    expect(protectedHeader.alg).toBe("EdDSA");
    expect(payload).toMatchObject({ sub: `oidc:${domain}:alice`, act: { sub: `oidc:${domain}:alice` }, action: "ssh.login", acr: MFA, jti });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(60);
    expect(new Date(expiresAt).getTime()).toBe((payload.exp ?? 0) * 1000);
    // The grant's record, then (once signed) the grant.issued event's to its node.
    expect(await eventsOf(domain, response)).toMatchObject([
      { action: "access.issue", decision: "granted", reason: "ok", details: { jti } },
      { action: "event.publish", decision: "recorded", details: { type: "grant.issued", recipients: [{ node_id: nodeId }] } },
    ]);

    // Another domain has its own key: a verifier holding its published keys refuses this domain's grant.
    const other = await env.freshTenant();
    const otherKey = await createGrantSigningKeys({ db: env.custos.db, wrapper: env.custos.backend, publishRetiredForSeconds: 930 }).activeKey(other.domain);
    const foreign = (await env.api.jwks(other.domain)).body();
    expect(foreign.keys.map((key) => key.kid)).toEqual([otherKey.kid]);
    await expect(jwtVerify(grant, createLocalJWKSet(foreign), { algorithms: ["EdDSA"] })).rejects.toThrow();
  });

  it("refuses an admin acting on a node outside their domain with 403, audited once", async () => {
    const { domain, admin } = await tenantWithNode();
    // A node of another domain, whose admin is someone else, and a node id that exists nowhere.
    const elsewhere = await env.freshTenant({ nodes: ["theirs"] });
    for (const foreignNodeId of [elsewhere.nodes[0]?.node_id ?? "", "00000000-0000-4000-8000-000000000001"]) {
      const response = await env.api.issueGrant(admin, domain, { node_id: foreignNodeId, action: "ssh.login" });
      expect(response.status).toBe(403);
      expect(response.problem).toMatchObject({ code: "permission_denied" });
      expect(await eventsOf(domain, response)).toMatchObject([{ decision: "denied", reason: "permission_denied" }]);
    }
  });

  it("sends a browser session back through sign-in with acr_values and max_age, and grants after the step-up", async () => {
    // Browser sign-in returns to acme only (the provider's registered callbacks): a node of this test's own there.
    const nodeId = (await env.api.enroll(await env.idToken("alice", "mfa"), "acme", "browser-node")).body().node_id;
    const weak = await env.browserSession("alice", "password");
    const denied = await env.api.issueGrant(weak, "acme", { node_id: nodeId, action: "ssh.login" });
    expect(denied.status).toBe(401);
    expect(denied.problem?.code).toBe("step_up_required");
    const signIn = new URL(String(denied.problem?.sign_in_url), env.server.url);
    expect(signIn.pathname).toBe("/auth/acme/login");
    expect(signIn.searchParams.get("acr_values")).toBe(MFA);
    expect(signIn.searchParams.get("max_age")).toBe("120");

    const strong = await env.browserSession("alice", "mfa", { acrValues: MFA, maxAge: 120, jar: weak.jar });
    const granted = await env.api.issueGrant(strong, "acme", { node_id: nodeId, action: "ssh.login" });
    expect(granted.status).toBe(201);
  });

  it("issues no grant when the audit store fails: 503 audit_unavailable", async () => {
    const { domain, admin, nodeId } = await tenantWithNode();
    await env.custos.db.query("ALTER TABLE audit_events ADD CONSTRAINT test_no_grants CHECK (action <> 'access.issue') NOT VALID");
    try {
      const response = await env.api.issueGrant(admin, domain, { node_id: nodeId, action: "ssh.login" });
      expect(response.status).toBe(503);
      expect(response.problem).toMatchObject({ code: "audit_unavailable" });
      expect(response.json).not.toHaveProperty("grant");
    } finally {
      await env.custos.db.query("ALTER TABLE audit_events DROP CONSTRAINT test_no_grants");
    }
  });

  it("refuses the operator token and a node bearer on an elevated route", async () => {
    const { domain, nodeId } = await tenantWithNode();
    const operator = await env.api.issueGrant(env.operatorToken, domain, { node_id: nodeId, action: "ssh.login" });
    expect(operator.status).toBe(401);
    expect(operator.problem).toMatchObject({ code: "invalid_token" });
  });
});
