import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedEngineInUse } from "../../src/authz/durable-relationships.ts";
import { buildCustos, type Custos } from "../../src/custos.ts";
import { deriveBearerSecret, formatNodeBearer } from "../../src/nodes/nsk.ts";
import { serveOnLoopback, type TestServer } from "../support/http.ts";
import { startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";
import { storeKinds } from "../support/stores.ts";

/**
 * The embedded SpiceDB engine lives in process memory. Every relationship Custos writes must
 * still survive a restart (restored from the database before the new process serves), and a
 * second process must not serve the same database with an engine of its own.
 */
describe.each(storeKinds())("relationships written through the embedded engine on %s", (kind) => {
  let env: CustosWithProvider;
  let restarted: { custos: Custos; server: TestServer } | undefined;
  let node: { node_id: string; kid: string; nsk: string };
  let admin: string;

  const call = (base: string, method: string, path: string, token: string, body?: unknown) =>
    fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const bearer = () => formatNodeBearer(node.kid, deriveBearerSecret(Buffer.from(node.nsk, "base64url")));

  beforeAll(async () => {
    env = await startCustosWithProvider({ kind });
    admin = await env.idToken("alice", "mfa");
    const base = env.server.url;
    node = (await (await call(base, "POST", "/v1/domains/acme/nodes", admin, { name: "web-1" })).json()) as typeof node;
    expect((await call(base, "PUT", "/v1/domains/acme/secrets/db-password", admin, { value: "s3cret" })).status).toBe(201);
    expect((await call(base, "PUT", `/v1/domains/acme/secrets/db-password/readers/${node.node_id}`, admin)).status).toBe(204);
    expect((await call(base, "GET", `/v1/nodes/${node.node_id}/secrets/db-password`, bearer())).status).toBe(200);
  });
  afterAll(async () => {
    await restarted?.server.close();
    await restarted?.custos.close();
    await env.provider.close();
    await env.store.dispose();
  });

  it.skipIf(kind !== "postgres")("refuses to start a second process with its own engine on the same database, naming SPICEDB_ENDPOINT", async () => {
    const other = await env.store.reopen();
    try {
      const attempt = buildCustos({ config: env.custos.config, database: other, logger: env.logs.logger });
      await expect(attempt).rejects.toBeInstanceOf(EmbeddedEngineInUse);
      await expect(attempt).rejects.toThrow(/SPICEDB_ENDPOINT/);
    } finally {
      await other.close();
    }
  });

  it("keeps every grant across a restart: domain admins, node membership and secret readers", async () => {
    await env.server.close();
    await env.custos.close();
    const custos = await buildCustos({ config: env.custos.config, database: env.store.db, logger: env.logs.logger });
    restarted = { custos, server: await serveOnLoopback(custos.app) };
    const base = restarted.server.url;

    // The reader relationship (node read) and the node's membership in its domain.
    expect((await call(base, "GET", `/v1/nodes/${node.node_id}/secrets/db-password`, bearer())).status).toBe(200);
    // The domain's admin: alice may still act on the node (a step-up-strong token passes).
    expect((await call(base, "POST", `/v1/domains/acme/nodes/${node.node_id}/quarantine`, admin)).status).toBe(204);
    expect((await call(base, "DELETE", `/v1/domains/acme/nodes/${node.node_id}/quarantine`, admin)).status).toBe(204);
    // A revoke made after the restart is durable as well.
    expect((await call(base, "DELETE", `/v1/domains/acme/secrets/db-password/readers/${node.node_id}`, admin)).status).toBe(204);
    const stored = await env.store.db.query("SELECT 1 FROM authz_relationships WHERE relation = 'reader'");
    expect(stored).toHaveLength(0);
    expect((await call(base, "GET", `/v1/nodes/${node.node_id}/secrets/db-password`, bearer())).status).toBe(403);
  });
});
