import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServeProcess, type ServeProcess } from "../support/serve-process.ts";
import { createIsolatedStore, type IsolatedStore } from "../support/stores.ts";

const OPERATOR_TOKEN = "Jq3vX9s0bLr2Mz7Kp4Wt8Yc1Nd6Hf5Ge0Ua9Si3Ox2E";
const ROUNDS = 4;
const REQUESTS_PER_ROUND = 100;
const onServer = process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== "";

/**
 * A replica whose database connections are terminated under load (pg_terminate_backend, as a
 * failover or a DBA would) answers the affected requests with an error and keeps serving;
 * the process never dies of it. Bounded: a few rounds of requests on loopback; more than one,
 * so that the pool is seen to recover from a cut and then survive the next one.
 */
describe.skipIf(!onServer)("custos serve when its database connections are terminated under load", () => {
  let store: IsolatedStore;
  let dataDir: string;
  let replica: ServeProcess;
  let admin: postgres.Sql;
  let databaseName: string;

  beforeAll(async () => {
    store = await createIsolatedStore("postgres");
    const url = store.env.DATABASE_URL ?? "";
    databaseName = new URL(url).pathname.slice(1);
    dataDir = await mkdtemp(path.join(os.tmpdir(), "custos-faults-"));
    replica = await startServeProcess({ DATABASE_URL: url, CUSTOS_DATA_DIR: dataDir, CUSTOS_OPERATOR_TOKEN: OPERATOR_TOKEN });
    admin = postgres(process.env.DATABASE_URL ?? "", { max: 1, onnotice: () => undefined });
  });
  afterAll(async () => {
    await replica.stop();
    await admin.end();
    await store.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  // Each request writes (the operator's audit record, in its own transaction) and reads (a
  // page of the platform chain): connections are busy both ways when they are cut.
  const operatorRead = () =>
    fetch(`${replica.url}/v1/domains/platform/audit/events?limit=1`, {
      headers: { authorization: `Bearer ${OPERATOR_TOKEN}` },
      // A request still unanswered after this is a hang: counted as status 0.
      signal: AbortSignal.timeout(15_000),
    }).then((response) => response.status, () => 0);

  it("survives every round, answers every request without a 500, and is ready again without a restart", { timeout: 120_000 }, async () => {
    const statuses: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const load = Promise.all(Array.from({ length: REQUESTS_PER_ROUND }, () => operatorRead()));
      await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${databaseName} AND pid <> pg_backend_pid()`;
      statuses.push(...(await load));
      expect(replica.alive(), replica.stderr()).toBe(true);
    }
    expect(statuses.filter((status) => status === 0), "requests never answered").toEqual([]);
    expect(statuses.filter((status) => status >= 500 && status !== 503)).toEqual([]);

    let ready = 0;
    for (let attempt = 0; attempt < 50 && ready !== 200; attempt += 1) {
      ready = await fetch(`${replica.url}/readyz`).then((response) => response.status, () => 0);
      if (ready !== 200) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(ready).toBe(200);
    // A pooled connection that was terminated is found only when used: it may fail one more
    // request (503, never 500) before the pool has replaced it.
    let served = 0;
    for (let attempt = 0; attempt < 50 && served !== 200; attempt += 1) {
      served = await operatorRead();
      expect([200, 503]).toContain(served);
      if (served !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(served).toBe(200);
    expect(replica.alive()).toBe(true);
    // And it still stops cleanly: no audit batch or pooled connection left waiting for a
    // connection that was cut.
    await replica.stop();
    expect(await replica.ended, replica.stderr().slice(-3000)).toEqual({ code: null, signal: "SIGTERM" });
    expect(replica.stderr()).toMatch(/custos stopped \(SIGTERM\) in \d+ ms/);
  });
});
