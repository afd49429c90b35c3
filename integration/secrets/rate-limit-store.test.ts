import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATIONS_DIR } from "../../src/package-paths.ts";
import type { Database } from "../../src/platform/db/database.ts";
import { loadMigrations, migrateUp } from "../../src/platform/db/migrate.ts";
import { PostgresRateLimitStore, RedisRateLimitStore } from "../../src/platform/rate-limit/rate-limit-stores.ts";
import { connectRedis, type RedisConnection } from "../../src/platform/rate-limit/redis-connection.ts";
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

const redisUrl = process.env.REDIS_URL ?? "";

// Without Redis these show as skipped, never as passing (CI sets REDIS_URL when Redis answers
// on 127.0.0.1:6379).
describe.skipIf(redisUrl === "")("the shared Redis rate-limit store (REDIS_URL)", () => {
  const url = redisUrl;
  let replicas: RedisConnection[] = [];
  beforeAll(async () => {
    replicas = [await connectRedis(url), await connectRedis(url)];
  });
  afterAll(async () => {
    for (const replica of replicas) await replica.close();
  });

  it("makes two replicas spend one budget, and starts a new window once the previous one ends", async () => {
    const replicasOf = (windowMs: number) => {
      const prefix = `test-${randomBytes(6).toString("hex")}:`;
      const stores = replicas.map((redis) => {
        const store = new RedisRateLimitStore(redis, prefix);
        store.init({ windowMs } as Parameters<RedisRateLimitStore["init"]>[0]);
        return store;
      });
      const [a, b] = stores;
      if (a === undefined || b === undefined) throw new Error("two replicas expected");
      return [a, b] as const;
    };
    // A window long enough that no run, however loaded the machine, sees it end mid-count.
    const [a, b] = replicasOf(60_000);
    const hits: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      hits.push((await a.increment("node-1")).totalHits);
      hits.push((await b.increment("node-1")).totalHits);
    }
    expect(hits).toEqual([1, 2, 3, 4, 5, 6]);
    // A short one, to see the next window start afresh on the other replica.
    const [shortA, shortB] = replicasOf(300);
    expect((await shortA.increment("node-1")).totalHits).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await shortB.increment("node-1")).totalHits).toBe(1);
  });

  it("answers store_unavailable, not an internal error, once its Redis connection has gone", async () => {
    const lost = await connectRedis(url);
    const store = new RedisRateLimitStore(lost, `test-${randomBytes(6).toString("hex")}:`);
    store.init({ windowMs: 300 } as Parameters<RedisRateLimitStore["init"]>[0]);
    expect((await store.increment("node-1")).totalHits).toBe(1);
    await lost.close();
    await expect(store.increment("node-1")).rejects.toMatchObject({ code: "store_unavailable" });
  });
});

// Needs no Redis: nothing listens on port 1.
describe("the Redis connection", () => {
  it("refuses, rather than waits, when Redis cannot be reached", async () => {
    await expect(connectRedis("redis://127.0.0.1:1")).rejects.toMatchObject({ code: "store_unavailable" });
  });
});
