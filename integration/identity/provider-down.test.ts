import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";

/** An id_token whose provider cannot be reached is a provider outage, not a bad token. */
describe("an admin request while the domain's OpenID provider is down", () => {
  let env: CustosWithProvider;

  beforeAll(async () => {
    env = await startCustosWithProvider();
    // Nothing listens on port 1: discovery and the JWKS fetch fail at once.
    const created = await env.putDomain("offline", { issuer: "http://127.0.0.1:1", client_id: "custos", admins: ["alice"], auditors: [] });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await env.close();
  });

  it("answers 503 provider_unavailable with Retry-After, and records the refusal", async () => {
    const token = await env.idToken("alice", "mfa");
    const response = await env.api.verifyAudit(token, "offline");
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("5");
    expect(response.problem).toMatchObject({ code: "provider_unavailable" });
    await env.custos.denials.flush();
    const rows = await env.custos.db.query<{ reason: string }>("SELECT reason FROM audit_events WHERE chain = 'offline' AND action = 'auth.authenticate'");
    expect(rows.map((row) => row.reason)).toContain("jwks_unavailable");
  });
});
