import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCustos, type Custos } from "../../src/custos.ts";
import { openPostgres } from "../../src/platform/db/connect.ts";
import type { Database } from "../../src/platform/db/database.ts";
import { testConfig } from "../support/config.ts";
import { startFreezableProxy, type FreezableProxy } from "../support/freezable-proxy.ts";
import { serveOnLoopback, type TestServer } from "../support/http.ts";
import { createIsolatedStore, type IsolatedStore } from "../support/stores.ts";

const onServer = process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== "";

/**
 * A store that stops answering without closing its connections: every request is still
 * answered (503, within the bounds), /readyz says not ready, and everything works again once
 * the store answers — no restart.
 */
describe.skipIf(!onServer)("Custos on a PostgreSQL server that hangs", () => {
  let store: IsolatedStore;
  let proxy: FreezableProxy;
  let db: Database;
  let custos: Custos;
  let server: TestServer;
  const operatorToken = randomBytes(32).toString("base64url");

  beforeAll(async () => {
    store = await createIsolatedStore("postgres");
    const direct = new URL(store.env.DATABASE_URL ?? "");
    proxy = await startFreezableProxy({ host: direct.hostname, port: Number(direct.port || "5432") });
    const viaProxy = new URL(direct.toString());
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = String(proxy.port);
    db = openPostgres({ url: viaProxy.toString(), queryTimeoutMs: 1000 });
    custos = await buildCustos({ config: testConfig({ CUSTOS_OPERATOR_TOKEN: operatorToken, CUSTOS_AUDIT_TIMEOUT_MS: "1000" }), database: db });
    server = await serveOnLoopback(custos.app);
  });
  afterAll(async () => {
    proxy.thaw();
    await server.close();
    await custos.close();
    await db.close();
    await proxy.close();
    await store.dispose();
  });

  // A hang is what this test looks for: an answer that has not come after 15 s counts as none (0).
  const ask = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, { headers, signal: AbortSignal.timeout(15_000) }).then((response) => response.status, () => 0);
  const operatorRead = () => ask("/v1/domains/platform/audit/events?limit=1", { authorization: `Bearer ${operatorToken}` });
  const unknownNode = () => ask(`/v1/nodes/00000000-0000-4000-8000-000000000001/secrets/x`, { authorization: `Bearer nsk.unknownkid1.${"A".repeat(43)}` });

  it("answers every request 503 while the store hangs, says not ready, and serves again once it answers", async () => {
    expect(await operatorRead()).toBe(200);
    proxy.freeze();
    const during = await Promise.all([operatorRead(), unknownNode(), operatorRead(), unknownNode(), ask("/readyz")]);
    expect(during).toEqual([503, 503, 503, 503, 503]);
    proxy.thaw();
    let after = 0;
    for (let attempt = 0; attempt < 50 && after !== 200; attempt += 1) {
      after = await operatorRead();
      if (after !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(after).toBe(200);
    expect(await ask("/readyz")).toBe(200);
  });
});
