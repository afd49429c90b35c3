import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deriveBearerSecret, formatNodeBearer } from "../../src/nodes/nsk.ts";
import { startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";

/**
 * Issue 16: RFC 6750 (after RFC 7235) makes the auth-scheme case-insensitive, so every kind of
 * bearer credential is accepted under `bearer` and `BEARER` exactly as under `Bearer`.
 */
describe("the Bearer scheme, whatever its case, for every credential kind", () => {
  let env: CustosWithProvider;
  let node: { node_id: string; kid: string; nsk: string };

  const call = (method: string, path: string, authorization: string, body?: unknown) =>
    fetch(`${env.server.url}${path}`, {
      method,
      headers: { authorization, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  beforeAll(async () => {
    env = await startCustosWithProvider();
    const admin = await env.idToken("alice", "mfa");
    const enrolled = await call("POST", "/v1/domains/acme/nodes", `Bearer ${admin}`, { name: "web-1" });
    expect(enrolled.status).toBe(201);
    node = (await enrolled.json()) as typeof node;
    expect((await call("PUT", "/v1/domains/acme/secrets/db-password", `Bearer ${admin}`, { value: "v" })).status).toBe(201);
    expect((await call("PUT", `/v1/domains/acme/secrets/db-password/readers/${node.node_id}`, `Bearer ${admin}`)).status).toBe(204);
  });
  afterAll(async () => {
    await env.close();
  });

  it.each(["bearer", "BEARER"])("accepts the operator token under %s", async (scheme) => {
    const response = await call("PUT", "/v1/domains/acme", `${scheme} ${env.operatorToken}`, {
      issuer: env.provider.issuer, client_id: "custos", admins: ["alice"], auditors: ["bob@example.org"],
    });
    expect(response.status).toBe(200);
  });

  it.each(["bearer", "BEARER"])("accepts an auditor's id_token under %s", async (scheme) => {
    const response = await call("GET", "/v1/domains/acme/audit/verify", `${scheme} ${await env.idToken("bob@example.org", "password")}`);
    expect(response.status).toBe(200);
  });

  it.each(["bearer", "BEARER"])("accepts a node bearer under %s", async (scheme) => {
    const bearer = formatNodeBearer(node.kid, deriveBearerSecret(Buffer.from(node.nsk, "base64url")));
    const response = await call("GET", `/v1/nodes/${node.node_id}/secrets/db-password`, `${scheme} ${bearer}`);
    expect(response.status).toBe(200);
  });
});
