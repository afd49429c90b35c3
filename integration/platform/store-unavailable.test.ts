import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHttpApp } from "../../src/http/app.ts";
import { openPglite, openPostgres } from "../../src/platform/db/connect.ts";
import type { Database } from "../../src/platform/db/database.ts";
import { createMetrics } from "../../src/platform/metrics.ts";
import { captureLogger } from "../support/logger.ts";
import { serveOnLoopback, type TestServer } from "../support/http.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore } from "../support/stores.ts";

/**
 * Issue 14: database calls are bounded (statement and lock timeouts), and a store that cannot
 * answer is 503 store_unavailable, not 500.
 */
async function serveQueries(db: Database, patientDb: Database = db): Promise<TestServer> {
  const app = buildHttpApp({
    logger: captureLogger().logger,
    metrics: createMetrics(),
    readiness: [],
    routes: [
      { method: "get", path: "/v1/one", handlers: [async (_req, res) => { res.json(await db.query("SELECT 1 AS one")); }] },
      { method: "get", path: "/v1/sleep", handlers: [async (_req, res) => { res.json(await db.query("SELECT pg_sleep(30) AS slept")); }] },
      { method: "get", path: "/v1/patient-sleep", handlers: [async (_req, res) => { res.json(await patientDb.query("SELECT pg_sleep(30) AS slept")); }] },
      { method: "get", path: "/v1/locked", handlers: [async (_req, res) => { res.json(await db.query("SELECT count(*) AS n FROM guarded")); }] },
      { method: "get", path: "/v1/broken", handlers: [async (_req, res) => { res.json(await db.query("SELEC 1")); }] },
    ],
  });
  return serveOnLoopback(app);
}

async function expectStoreUnavailable(response: Response): Promise<void> {
  expect(response.status).toBe(503);
  expect(response.headers.get("retry-after")).toBe("1");
  const body = (await response.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ code: "store_unavailable", status: 503 });
  expect(JSON.stringify(body)).not.toMatch(/pg_sleep|guarded|timeout|terminat/i);
}

describe("a closed embedded store (PGlite)", () => {
  let db: Database;
  let server: TestServer;
  beforeAll(async () => {
    db = await openPglite();
    server = await serveQueries(db);
  });
  afterAll(async () => {
    await server.close();
  });

  it("answers 200 while it is open and 503 store_unavailable once it is closed", async () => {
    expect((await fetch(`${server.url}/v1/one`)).status).toBe(200);
    await db.close();
    await expectStoreUnavailable(await fetch(`${server.url}/v1/one`));
  });
});

describe.skipIf(!storeKinds().includes("postgres"))("a PostgreSQL server that cannot answer", () => {
  let store: IsolatedStore;
  let db: Database;
  let patientDb: Database;
  let admin: postgres.Sql;
  let server: TestServer;

  beforeAll(async () => {
    store = await createIsolatedStore("postgres");
    const url = store.env.DATABASE_URL ?? "";
    await store.db.query("CREATE TABLE guarded (id integer)");
    // Short bounds so that the test does not wait long; production uses DATABASE_TIMEOUTS.
    db = openPostgres({ url, statementTimeoutMs: 300, lockTimeoutMs: 300 });
    // Slower than the test: only pg_terminate_backend ends its sleep.
    patientDb = openPostgres({ url, statementTimeoutMs: 60_000 });
    admin = postgres(url, { max: 1, onnotice: () => undefined });
    server = await serveQueries(db, patientDb);
  });
  afterAll(async () => {
    await server.close();
    await db.close();
    await patientDb.close();
    await admin.end();
    await store.dispose();
  });

  it("bounds every statement and lock wait by default (DATABASE_TIMEOUTS)", async () => {
    const [statement] = await store.db.query<{ statement_timeout: string }>("SHOW statement_timeout");
    const [lock] = await store.db.query<{ lock_timeout: string }>("SHOW lock_timeout");
    expect(statement?.statement_timeout).toBe("5s");
    expect(lock?.lock_timeout).toBe("2s");
  });

  it("answers a statement cut by statement_timeout (57014) with 503 store_unavailable", async () => {
    await expectStoreUnavailable(await fetch(`${server.url}/v1/sleep`));
  });

  it("answers a lock wait cut by lock_timeout (55P03) with 503 store_unavailable", async () => {
    await admin.begin(async (tx) => {
      await tx`LOCK TABLE guarded IN ACCESS EXCLUSIVE MODE`;
      await expectStoreUnavailable(await fetch(`${server.url}/v1/locked`));
    });
  });

  it("answers a query whose connection is terminated (57P01) with 503, and serves again afterwards", async () => {
    // An object, not a local: the flag is set by the request's callback while the loop runs.
    const request = { settled: false };
    const pending = fetch(`${server.url}/v1/patient-sleep`).finally(() => { request.settled = true; });
    // Wait until the query is running, then end its backend from another connection.
    let terminated = false;
    while (!terminated && !request.settled) {
      const rows = await admin`SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
                                WHERE datname = current_database() AND application_name = 'custos' AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()`;
      terminated = rows.length > 0;
    }
    await expectStoreUnavailable(await pending);
    expect((await fetch(`${server.url}/v1/one`)).status).toBe(200);
  });

  it("still answers a fault of Custos's own (a syntax error) with 500 internal, not 503", async () => {
    const response = await fetch(`${server.url}/v1/broken`);
    expect(response.status).toBe(500);
    expect(await response.json()).toMatchObject({ code: "internal" });
  });
});
