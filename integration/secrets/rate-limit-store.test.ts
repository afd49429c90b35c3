import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATIONS_DIR } from "../../src/package-paths.ts";
import type { Database } from "../../src/platform/db/database.ts";
import { loadMigrations, migrateUp } from "../../src/platform/db/migrate.ts";
import { PostgresRateLimitStore } from "../../src/secrets/rate-limit-stores.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore } from "../support/stores.ts";

function storeFor(db: Database, windowMs: number): PostgresRateLimitStore {
  const store = new PostgresRateLimitStore(db, "secret-reads:node:");
  store.init({ windowMs } as Parameters<PostgresRateLimitStore["init"]>[0]);
  return store;
}

describe.each(storeKinds())("the shared PostgreSQL rate-limit store on %s", (kind) => {
  let isolated: IsolatedStore;
  let second: Database;

  beforeAll(async () => {
    isolated = await createIsolatedStore(kind);
    await migrateUp(isolated.db, await loadMigrations(MIGRATIONS_DIR));
    // Two replicas: on the server, two connections pools; PGlite is single-process, one handle.
    second = kind === "postgres" ? await isolated.reopen() : isolated.db;
  });
  afterAll(async () => {
    if (second !== isolated.db) await second.close();
    await isolated.dispose();
  });

  it("makes two replicas spend one budget", async () => {
    const replicaA = storeFor(isolated.db, 60_000);
    const replicaB = storeFor(second, 60_000);
    const hits: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      hits.push((await replicaA.increment("node-1")).totalHits);
      hits.push((await replicaB.increment("node-1")).totalHits);
    }
    expect(hits).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect((await replicaB.increment("node-2")).totalHits).toBe(1);
  });

  it("starts a new window once the previous one has ended, and reports when it resets", async () => {
    const replica = storeFor(isolated.db, 300);
    const first = await replica.increment("node-3");
    await replica.increment("node-3");
    expect(first.resetTime?.getTime()).toBeGreaterThan(Date.now() - 1000);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await replica.increment("node-3")).totalHits).toBe(1);
  });
});
