import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createAuditKeyring, type AuditKeyring } from "../../src/audit/audit-keys.ts";
import { createAuditSchedule, type AuditJob, type AuditSchedule, type AuditScheduleOptions } from "../../src/audit/audit-schedule.ts";
import { readCheckpoints, streamRecordPages } from "../../src/audit/audit-store.ts";
import { verifyChain } from "../../src/audit/audit-verifier.ts";
import { parseCheckpoint } from "../../src/audit/checkpoints.ts";
import type { GroupCommitAppender } from "../../src/audit/group-commit-appender.ts";
import { verifyMirrorOffline } from "../../src/audit/mirror.ts";
import { buildCustos, type Custos } from "../../src/custos.ts";
import type { Database } from "../../src/platform/db/database.ts";
import { runCli } from "../support/cli.ts";
import { testConfig } from "../support/config.ts";
import { serveOnLoopback, type TestServer } from "../support/http.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore } from "../support/stores.ts";
import { appendEvents, appenderFor, event, migrated } from "./audit-fixtures.ts";

const T0 = Date.parse("2026-03-01T12:00:00.000Z");
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * Scheduled checkpoints on a fake clock: the schedule's `tick()` is driven by the test, as its
 * timer would drive it, so an hour passes without anyone waiting for it.
 */
describe.each(storeKinds())("scheduled audit checkpoints on %s", (kind) => {
  let store: IsolatedStore;
  let scratch: string;
  let keys: AuditKeyring;
  let appender: GroupCommitAppender;
  let now: number;
  let errors: { job: AuditJob; error: unknown }[];

  beforeEach(async () => {
    store = await createIsolatedStore(kind);
    await migrated(store.db);
    scratch = await mkdtemp(path.join(os.tmpdir(), "custos-schedule-"));
    // The key is registered before the fake clock starts: what it signs falls within its validity.
    keys = createAuditKeyring({ db: store.db, file: path.join(scratch, "audit-key.pem"), create: true, clock: () => new Date(T0 - HOUR) });
    await keys.signingKey();
    appender = appenderFor(store.db);
    now = T0;
    errors = [];
  });
  afterEach(async () => {
    await appender.drain();
    await store.dispose();
    await rm(scratch, { recursive: true, force: true });
  });

  function schedule(options: Partial<AuditScheduleOptions> = {}): AuditSchedule {
    return createAuditSchedule({
      db: store.db,
      keys,
      policy: { intervalSeconds: 3600, everyRecords: undefined },
      clock: () => new Date(now),
      onError: (job, error) => { errors.push({ job, error }); },
      ...options,
    });
  }
  const stored = async (chain: string) => (await readCheckpoints(store.db, chain)).map((doc) => parseCheckpoint(doc));
  const append = async (chain: string, count: number) => {
    for (let n = 0; n < count; n += 1) await appender.append(event(chain, n));
  };

  it("signs a checkpoint of a chain whose head moved once the interval has passed, and not a moment before", async () => {
    const jobs = schedule();
    await appendEvents(appender, "acme", 3);
    const first = await jobs.tick();
    expect(first.signed.map((c) => [c.chain, c.seq, c.signed_at])).toEqual([["acme", 3, new Date(T0).toISOString()]]);

    await append("acme", 2);
    now = T0 + HOUR - 1;
    expect((await jobs.tick()).signed).toEqual([]);
    now = T0 + HOUR;
    const due = await jobs.tick();
    expect(due.signed.map((c) => [c.chain, c.seq, c.signed_at])).toEqual([["acme", 5, new Date(T0 + HOUR).toISOString()]]);

    const checkpoints = await stored("acme");
    expect(checkpoints.map((c) => c.seq)).toEqual([3, 5]);
    const report = await verifyChain({ chain: "acme", records: streamRecordPages(store.db, "acme"), checkpoint: checkpoints[1], signer: keys });
    expect(report).toMatchObject({ ok: true, checkpoint: { seq: 5, checked: true } });
    expect(errors).toEqual([]);
  });

  it("gives a chain whose head has not moved no new checkpoint, however many intervals pass", async () => {
    const jobs = schedule();
    await appendEvents(appender, "acme", 3);
    await jobs.tick();
    for (const hours of [1, 2, 24, 24 * 30]) {
      now = T0 + hours * HOUR;
      expect((await jobs.tick()).signed).toEqual([]);
    }
    expect((await stored("acme")).map((c) => c.seq)).toEqual([3]);
  });

  it("checkpoints a chain whose head moved N records at the next tick, without waiting for the interval", async () => {
    const jobs = schedule({ policy: { intervalSeconds: 3600, everyRecords: 10 } });
    await appendEvents(appender, "acme", 3);
    await appendEvents(appender, "quiet", 1);
    await jobs.tick();
    await append("acme", 9);
    await append("quiet", 2);
    now = T0 + MINUTE;
    expect((await jobs.tick()).signed).toEqual([]);
    await append("acme", 1);
    now = T0 + 2 * MINUTE;
    expect((await jobs.tick()).signed.map((c) => [c.chain, c.seq])).toEqual([["acme", 13]]);
  });

  it("two schedulers on one database, ticking together, produce one checkpoint per interval, not two", async () => {
    // Two replicas: on the PostgreSQL server each with its own connection pool; PGlite serves one process.
    const other: Database = kind === "postgres" ? await store.reopen() : store.db;
    const a = schedule();
    // A's clock and B's differ by a millisecond, so two signatures would not collide on the key.
    const b = createAuditSchedule({
      db: other, keys, policy: { intervalSeconds: 3600, everyRecords: undefined }, clock: () => new Date(now + 1),
      onError: (job, error) => { errors.push({ job, error }); },
    });
    for (let round = 0; round < 5; round += 1) {
      // A minute past each interval: B's clock, a millisecond ahead, must not make the next
      // checkpoint due for B alone (whichever takes the job lock decides for both).
      now = T0 + round * (HOUR + MINUTE);
      await append("acme", 1);
      await append("globex", 2);
      const [fromA, fromB] = await Promise.all([a.tick(), b.tick()]);
      const signed = [...fromA.signed, ...fromB.signed].map((c) => c.chain).sort();
      expect(signed, `round ${String(round)}`).toEqual(["acme", "globex"]);
    }
    expect((await stored("acme")).map((c) => c.seq)).toEqual([1, 2, 3, 4, 5]);
    expect((await stored("globex")).map((c) => c.seq)).toEqual([2, 4, 6, 8, 10]);
    expect(errors).toEqual([]);
  });

  it("writes each scheduled checkpoint to the witness directory as <chain>-<seq>.json, which verifies offline with the public keys", async () => {
    const witnessDir = path.join(scratch, "witness");
    await mkdir(witnessDir);
    const jobs = schedule({ witnessDir });
    await appendEvents(appender, "acme", 3);
    const result = await jobs.tick();
    const file = path.join(witnessDir, "acme-000000000003.json");
    expect(result.witnessed).toEqual([file]);
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual(result.signed[0]);

    const keysFile = path.join(scratch, "keys.json");
    await writeFile(keysFile, JSON.stringify(await keys.publicJwks()));
    const verified = await runCli(["audit", "verify", "--checkpoint", file, "--keys", keysFile, "--json"], {});
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, source: "checkpoint", checkpoint: { seq: 3 } });
  });

  it("never overwrites a witness file: one already holding another checkpoint at that seq is kept, and the refusal reported", async () => {
    const witnessDir = path.join(scratch, "witness");
    await mkdir(witnessDir);
    const earlier = '{"an":"auditor\'s earlier copy"}\n';
    await writeFile(path.join(witnessDir, "acme-000000000003.json"), earlier);
    const jobs = schedule({ witnessDir });
    await appendEvents(appender, "acme", 3);
    const result = await jobs.tick();
    expect(result.signed).toHaveLength(1);
    expect(result.witnessed).toEqual([]);
    expect(await readFile(path.join(witnessDir, "acme-000000000003.json"), "utf8")).toBe(earlier);
    expect(errors.map((e) => e.job)).toEqual(["witness"]);
    expect(String(errors[0]?.error)).toContain("already holds another checkpoint of acme at seq 3");
  });

  it("stores the checkpoint at once when its witness file cannot be written, and writes the file at a later tick", async () => {
    const witnessDir = path.join(scratch, "witness-not-mounted-yet");
    const jobs = schedule({ witnessDir });
    await appendEvents(appender, "acme", 3);
    const first = await jobs.tick();
    expect(first.signed.map((c) => c.seq)).toEqual([3]);
    expect(first.witnessed).toEqual([]);
    expect(errors.map((e) => e.job)).toEqual(["witness"]);
    expect((await stored("acme")).map((c) => c.seq)).toEqual([3]);

    await mkdir(witnessDir);
    now = T0 + MINUTE;
    const second = await jobs.tick();
    expect(second.signed).toEqual([]);
    expect(second.witnessed).toEqual([path.join(witnessDir, "acme-000000000003.json")]);
    expect(await readdir(witnessDir)).toEqual(["acme-000000000003.json"]);
  });

  it("logs a job that fails and tries it again at the next tick, without throwing: signing refused, then allowed", async () => {
    let refuse = true;
    const jobs = schedule({
      keys: { signingKey: () => (refuse ? Promise.reject(new Error("audit key unavailable")) : keys.signingKey()) },
    });
    await appendEvents(appender, "acme", 3);
    expect((await jobs.tick()).signed).toEqual([]);
    expect(errors.map((e) => e.job)).toEqual(["checkpoint"]);
    expect(await stored("acme")).toEqual([]);
    refuse = false;
    now = T0 + MINUTE;
    expect((await jobs.tick()).signed.map((c) => c.seq)).toEqual([3]);
  });

  it("keeps each chain's mirror up to its latest checkpoint on the same schedule, incrementally; the mirror verifies offline", async () => {
    const mirrorDir = path.join(scratch, "mirrors");
    const jobs = schedule({ mirrorDir });
    await appendEvents(appender, "acme", 3);
    const first = await jobs.tick();
    expect(first.mirrored).toMatchObject([{ chain: "acme", rows_written: 3, head: { seq: 3 } }]);

    await append("acme", 2);
    now = T0 + MINUTE;
    expect((await jobs.tick()).mirrored).toEqual([]);
    now = T0 + HOUR;
    const due = await jobs.tick();
    expect(due.signed.map((c) => c.seq)).toEqual([5]);
    expect(due.mirrored).toMatchObject([{ chain: "acme", rows_written: 2, head: { seq: 5 } }]);

    const report = await verifyMirrorOffline(path.join(mirrorDir, "acme"), keys, { checkpoint: due.signed[0] });
    expect(report).toMatchObject({ ok: true, rows_checked: 5, checkpoint: { checked: true } });
    expect(errors).toEqual([]);
  });

  it("stops on shutdown: a tick after stop() does nothing", async () => {
    const jobs = schedule();
    await appendEvents(appender, "acme", 3);
    await jobs.stop();
    expect((await jobs.tick()).signed).toEqual([]);
    expect(await stored("acme")).toEqual([]);
  });
});

describe("the latest checkpoint of each chain in /metrics", () => {
  let store: IsolatedStore;
  let custos: Custos;
  let server: TestServer;
  let nowSeconds = T0 / 1000;

  beforeAll(async () => {
    store = await createIsolatedStore("pglite");
    custos = await buildCustos({ config: testConfig(), database: store.db, now: () => nowSeconds });
    server = await serveOnLoopback(custos.app);
  });
  afterAll(async () => {
    await server.close();
    await custos.close();
    await store.dispose();
  });

  const metric = async (name: string, chain: string): Promise<number | undefined> => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name}{chain="${chain}"} `));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
  };

  it("shows its seq and its age, measured at each scrape", async () => {
    expect(await metric("custos_audit_checkpoint_seq", "acme")).toBeUndefined();
    await appendEvents(custos.audit, "acme", 4);
    expect((await custos.auditSchedule.tick()).signed.map((c) => c.seq)).toEqual([4]);
    expect(await metric("custos_audit_checkpoint_seq", "acme")).toBe(4);
    expect(await metric("custos_audit_checkpoint_age_seconds", "acme")).toBe(0);
    nowSeconds += 125;
    expect(await metric("custos_audit_checkpoint_age_seconds", "acme")).toBe(125);
  });
});
