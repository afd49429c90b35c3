import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendInTransaction } from "../../src/audit/append-in-transaction.ts";
import type { Database } from "../../src/platform/db/database.ts";
import { CustosError } from "../../src/platform/errors.ts";
import { REPO_ROOT } from "../support/cli.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore } from "../support/stores.ts";
import { appenderFor, event, migrated, rowsOf, verify } from "./audit-fixtures.ts";
import type { Actor } from "../../src/audit/audit-vocabulary.ts";

interface Worker {
  /** Resolves once the worker is connected and waiting for the go. */
  readonly ready: Promise<void>;
  go(): void;
  readonly done: Promise<{ committed: number }>;
}

function startWorker(env: Readonly<Record<string, string>>, chain: string, count: number): Worker {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO_ROOT, "integration", "audit", "append-worker.ts"), chain, String(count)], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let signalReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => { signalReady = resolve; });
  child.stdout.on("data", (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
    if (stderr.includes("ready\n")) signalReady();
  });
  const done = new Promise<{ committed: number }>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      signalReady();
      if (code === 0) resolve(JSON.parse(stdout) as { committed: number });
      else reject(new Error(`append worker exited ${String(code)}: ${stderr}`));
    });
  });
  return { ready, go: () => child.stdin.end("go\n"), done };
}

/** The database, counting the transactions that go the long way and the pipelined ones. */
function countingTransactions(db: Database): { counting: Database; calls: { transaction: number; pipelined: number } } {
  const calls = { transaction: 0, pipelined: 0 };
  const counting: Database = {
    ...db,
    query: (text, params) => db.query(text, params),
    transaction: (work) => { calls.transaction += 1; return db.transaction(work); },
    pipelinedTransaction: (statements, options) => { calls.pipelined += 1; return db.pipelinedTransaction(statements, options); },
  };
  return { counting, calls };
}

describe.each(storeKinds())("the group-commit audit appender on %s", (kind) => {
  let store: IsolatedStore;

  beforeAll(async () => {
    store = await createIsolatedStore(kind);
    await migrated(store.db);
  });
  afterAll(async () => {
    await store.dispose();
  });

  /**
   * Holds a chain's lock row from another session (on the server, another connection pool;
   * PGlite has one session) until released, as a DBA's open transaction would.
   */
  async function holdChainLock(chain: string): Promise<{ release(): Promise<void> }> {
    const holder = kind === "postgres" ? await store.reopen() : store.db;
    let letGo: () => void = () => undefined;
    const released = new Promise<void>((resolve) => { letGo = resolve; });
    let signalHeld: () => void = () => undefined;
    const held = new Promise<void>((resolve) => { signalHeld = resolve; });
    const holding = holder.transaction(async (tx) => {
      await tx.query("SELECT chain FROM audit_chains WHERE chain = $1 FOR UPDATE", [chain]);
      signalHeld();
      await released;
    });
    await held;
    return {
      async release() {
        letGo();
        await holding;
        if (holder !== store.db) await holder.close();
      },
    };
  }

  it("resolves each append with its own seq and hash, once committed", async () => {
    const appender = appenderFor(store.db);
    const first = await appender.append(event("receipts", 1));
    const second = await appender.append(event("receipts", 2));
    expect(first.seq).toBe(1);
    expect(second.seq).toBe(2);
    const rows = await rowsOf(store.db, "receipts");
    expect(rows.map((row) => [row.seq, row.hash])).toEqual([[1, first.hash], [2, second.hash]]);
    expect(rows[1]?.prev_hash).toBe(first.hash);
  });

  it("commits a batch at the head its own last batch left in one pipelined transaction, not the lock-then-read one", async () => {
    const { counting, calls } = countingTransactions(store.db);
    const paths: string[] = [];
    const appender = appenderFor(counting, { onBatchCommitted: (_chain, _size, path) => paths.push(path) });
    for (let n = 1; n <= 5; n += 1) expect((await appender.append(event("known-head", n))).seq).toBe(n);
    // The first batch reads the head under the lock; each later one knows it.
    expect(calls).toEqual({ transaction: 1, pipelined: 4 });
    expect(paths).toEqual(["locked", "known_head", "known_head", "known_head", "known_head"]);
    expect(await verify(store.db, "known-head")).toMatchObject({ ok: true, rows_checked: 5 });
  });

  it("chains a batch again under the lock when another writer moved the head it knew, losing nothing and forking nothing", async () => {
    const { counting, calls } = countingTransactions(store.db);
    // A window no test run outlasts: while it lasts, the chain's head is read afresh.
    const paths: string[] = [];
    const appender = appenderFor(counting, { contendedForMs: 600_000, onBatchCommitted: (_chain, _size, path) => paths.push(path) });
    expect((await appender.append(event("moved-head", 1))).seq).toBe(1);
    // Another writer (the CLI, another replica) appends behind this appender's back.
    await store.db.transaction((tx) => appendInTransaction(tx, event("moved-head", 2)));
    expect((await appender.append(event("moved-head", 3))).seq).toBe(3);
    expect((await appender.append(event("moved-head", 4))).seq).toBe(4);
    expect((await rowsOf(store.db, "moved-head")).map((row) => row.request_id)).toEqual(["req-1", "req-2", "req-3", "req-4"]);
    // 1: the long way (no head known); 3: the known head, refused, then the long way; 4: the
    // head read afresh, since another writer appends to this chain, then one round trip.
    expect(calls).toEqual({ transaction: 2, pipelined: 2 });
    expect(paths).toEqual(["locked", "locked", "fresh_head"]);
    expect(await verify(store.db, "moved-head")).toMatchObject({ ok: true, rows_checked: 4 });
  });

  it("commits 64 concurrent appends in far fewer transactions, as one gapless chain that verifies", async () => {
    const batches: number[] = [];
    const appender = appenderFor(store.db, { onBatchCommitted: (_chain, size) => batches.push(size) });
    const receipts = await Promise.all(Array.from({ length: 64 }, (_, n) => appender.append(event("grouped", n + 1))));
    expect(new Set(receipts.map((r) => r.seq))).toEqual(new Set(Array.from({ length: 64 }, (_, n) => n + 1)));
    expect(batches.reduce((a, b) => a + b, 0)).toBe(64);
    expect(batches.length).toBeLessThan(8);
    expect(await verify(store.db, "grouped")).toMatchObject({ ok: true, rows_checked: 64 });
  });

  it("stores fields holding quotes, backslashes, braces, commas, NULL and non-ASCII text exactly as they were hashed", async () => {
    const appender = appenderFor(store.db);
    const awkward = ['a "quoted", {braced} \\ value', "NULL", "snowman ☃ and 漢字", "trailing\\"];
    await Promise.all(awkward.map((text, n) => appender.append(event("awkward", n + 1, { resource: `secret:awkward/${String(n)},{x}`, details: { text, nested: { list: [text, null] } } }))));
    const rows = await rowsOf(store.db, "awkward");
    expect(rows.map((row) => (row.details as { text: string }).text).sort()).toEqual([...awkward].sort());
    expect(await verify(store.db, "awkward")).toMatchObject({ ok: true, rows_checked: awkward.length });
  });

  it("keeps chains apart: each domain has its own seq and genesis", async () => {
    const appender = appenderFor(store.db);
    const [a, b] = await Promise.all([appender.append(event("chain-a", 1)), appender.append(event("chain-b", 1))]);
    expect(a.seq).toBe(1);
    expect(b.seq).toBe(1);
    const [rowA] = await rowsOf(store.db, "chain-a");
    const [rowB] = await rowsOf(store.db, "chain-b");
    expect(rowA?.prev_hash).not.toBe(rowB?.prev_hash);
  });

  it("rejects every caller of a batch whose transaction fails, and leaves none of its rows", async () => {
    const appender = appenderFor(store.db);
    await appender.append(event("poisoned", 1));
    // A constraint the batch will violate: one poisoned event fails the whole transaction.
    await store.db.query(`ALTER TABLE audit_events ADD CONSTRAINT test_no_poison CHECK (reason <> 'poison')`);
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, n) => appender.append(event("poisoned", n + 2, n === 6 ? { reason: "poison" } : {}))),
      );
      expect(results.every((r) => r.status === "rejected")).toBe(true);
      for (const result of results) {
        if (result.status === "rejected") {
          expect(result.reason).toBeInstanceOf(CustosError);
          expect((result.reason as CustosError).code).toBe("audit_unavailable");
        }
      }
      expect((await rowsOf(store.db, "poisoned")).map((row) => row.seq)).toEqual([1]);
    } finally {
      await store.db.query("ALTER TABLE audit_events DROP CONSTRAINT test_no_poison");
    }
    await appender.append(event("poisoned", 99));
    expect(await verify(store.db, "poisoned")).toMatchObject({ ok: true, rows_checked: 2 });
  });

  it("refuses before batching an event the database could not store, without failing the others", async () => {
    const appender = appenderFor(store.db);
    const results = await Promise.allSettled([
      appender.append(event("validated", 1)),
      appender.append(event("validated", 2, { details: { bad: "nul\u0000byte" } })),
      appender.append(event("validated", 3, { actor: "" as Actor })),
      appender.append(event("validated", 4)),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected", "fulfilled"]);
    expect(await verify(store.db, "validated")).toMatchObject({ ok: true, rows_checked: 2 });
  });

  it("fails with audit_unavailable within its bound while the chain is locked, instead of hanging", async () => {
    const appender = appenderFor(store.db, { timeoutMs: 300 });
    await appender.append(event("locked", 1));
    const lock = await holdChainLock("locked");
    let settledWhileLocked = false;
    const outcome = await appender.append(event("locked", 2)).then(
      () => "committed",
      (error: unknown) => {
        settledWhileLocked = true;
        return error instanceof CustosError ? error.code : String(error);
      },
    );
    await lock.release();
    expect(outcome).toBe("audit_unavailable");
    expect(settledWhileLocked).toBe(true);
    await appender.drain();
    expect((await verify(store.db, "locked")).ok).toBe(true);
  });

  it("leaves no unexplained granted record for a caller it refused while the chain was locked", async () => {
    const appender = appenderFor(store.db, { timeoutMs: 300 });
    await appender.append(event("late", 1));
    const lock = await holdChainLock("late");
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    // The first caller's batch holds the queue until its bound; the next callers join the
    // queue behind it, so their batch starts with most of their own bound already spent.
    const first = appender.append(event("late", 2)).then(() => "committed", () => "refused");
    await sleep(200);
    const queued = Array.from({ length: 8 }, (_, n) => appender.append(event("late", 10 + n)).then(() => "committed", () => "refused"));
    // Released after the queued callers were answered but before a batch that ignored their
    // deadlines would have given up on the lock.
    await sleep(350);
    await lock.release();
    const outcomes = await Promise.all([first, ...queued]);
    await appender.drain();
    const rows = await rowsOf(store.db, "late");
    const lateCommits = new Set(rows.filter((row) => row.action === "audit.late_commit").map((row) => row.details.seq));
    const refusedIds = new Set([2, ...Array.from({ length: 8 }, (_, n) => 10 + n)].filter((_, i) => outcomes[i] === "refused").map((n) => `req-${String(n)}`));
    expect(refusedIds.size).toBeGreaterThan(0);
    for (const row of rows) {
      if (row.action === "secret.read" && refusedIds.has(row.request_id)) expect(lateCommits).toContain(row.seq);
    }
    expect((await verify(store.db, "late")).ok).toBe(true);
  });

  it("answers a caller whose batch committed though the store's acknowledgement was lost, instead of refusing it beside its record", async () => {
    // The server commits, then the connection goes before it says so: the driver reports an
    // error for a transaction that stands.
    let loseNextAcknowledgement = true;
    const flaky: Database = {
      ...store.db,
      query: (text, params) => store.db.query(text, params),
      transaction: async (work) => {
        const result = await store.db.transaction(work);
        if (loseNextAcknowledgement) {
          loseNextAcknowledgement = false;
          throw Object.assign(new Error("write CONNECTION_CLOSED"), { code: "CONNECTION_CLOSED" });
        }
        return result;
      },
    };
    const appender = appenderFor(flaky);
    const receipt = await appender.append(event("ack-lost", 1));
    expect(receipt.seq).toBe(1);
    expect((await rowsOf(store.db, "ack-lost")).map((row) => row.seq)).toEqual([1]);
    expect((await appender.append(event("ack-lost", 2))).seq).toBe(2);
    expect(await verify(store.db, "ack-lost")).toMatchObject({ ok: true, rows_checked: 2 });
  });

  it.skipIf(kind !== "postgres")(
    "two appenders on separate connection pools contending for one chain lose no append and reuse no seq",
    async () => {
      // Each pool is what a second replica would hold: the appenders meet only at the chain's
      // lock row, so every batch waits for the other's commit before it may read the head.
      const other = await store.reopen();
      try {
        const a = appenderFor(store.db, { maxBatchSize: 2 });
        const b = appenderFor(other, { maxBatchSize: 2 });
        const results = await Promise.allSettled(
          Array.from({ length: 200 }, (_, n) => (n % 2 === 0 ? a : b).append(event("contended", n + 1))),
        );
        expect(results.filter((r) => r.status === "rejected")).toEqual([]);
        const rows = await rowsOf(store.db, "contended");
        expect(rows.map((row) => row.seq)).toEqual(Array.from({ length: 200 }, (_, n) => n + 1));
        expect(await verify(store.db, "contended")).toMatchObject({ ok: true, rows_checked: 200 });
      } finally {
        await other.close();
      }
    },
  );

  // PGlite is single-process, so there two appender instances over one handle stand in for
  // two processes; on the PostgreSQL server a real second process appends.
  const acrossWhat = kind === "postgres" ? "two processes" : "two appender instances (PGlite is single-process)";
  it(`64 appenders across ${acrossWhat} produce one gapless chain that verifies`, async () => {
    const appender = appenderFor(store.db, { maxBatchSize: 4 });
    if (kind === "postgres") {
      // A barrier: both processes start appending at the same moment, so their batches
      // really do wait for each other's lock (a worker that starts late would append alone).
      const child = startWorker(store.env, "two-processes", 32);
      await child.ready;
      child.go();
      const [worker, local] = await Promise.all([
        child.done,
        Promise.all(Array.from({ length: 32 }, (_, n) => appender.append(event("two-processes", n + 1)))),
      ]);
      expect(worker.committed).toBe(32);
      expect(local).toHaveLength(32);
      const rows = await rowsOf(store.db, "two-processes");
      expect(new Set(rows.map((row) => row.details.process ?? "test"))).toEqual(new Set(["worker", "test"]));
    } else {
      const second = appenderFor(store.db, { maxBatchSize: 4 });
      await Promise.all(Array.from({ length: 64 }, (_, n) => (n % 2 === 0 ? appender : second).append(event("two-processes", n + 1))));
    }
    const rows = await rowsOf(store.db, "two-processes");
    expect(rows.map((row) => row.seq)).toEqual(Array.from({ length: 64 }, (_, n) => n + 1));
    expect(await verify(store.db, "two-processes")).toMatchObject({ ok: true, rows_checked: 64 });
  });
});
