import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosError } from "../../src/platform/errors.ts";
import { REPO_ROOT } from "../support/cli.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore } from "../support/stores.ts";
import { appenderFor, event, migrated, rowsOf, verify } from "./audit-fixtures.ts";

function runWorker(env: Readonly<Record<string, string>>, chain: string, count: number): Promise<{ committed: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO_ROOT, "integration", "audit", "append-worker.ts"), chain, String(count)], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(JSON.parse(stdout) as { committed: number });
      else reject(new Error(`append worker exited ${String(code)}: ${stderr}`));
    });
  });
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

  it("commits 64 concurrent appends in far fewer transactions, as one gapless chain that verifies", async () => {
    const batches: number[] = [];
    const appender = appenderFor(store.db, { onBatchCommitted: (_chain, size) => batches.push(size) });
    const receipts = await Promise.all(Array.from({ length: 64 }, (_, n) => appender.append(event("grouped", n + 1))));
    expect(new Set(receipts.map((r) => r.seq))).toEqual(new Set(Array.from({ length: 64 }, (_, n) => n + 1)));
    expect(batches.reduce((a, b) => a + b, 0)).toBe(64);
    expect(batches.length).toBeLessThan(8);
    expect(await verify(store.db, "grouped")).toMatchObject({ ok: true, rows_checked: 64 });
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
      appender.append(event("validated", 3, { actor: "" })),
      appender.append(event("validated", 4)),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected", "fulfilled"]);
    expect(await verify(store.db, "validated")).toMatchObject({ ok: true, rows_checked: 2 });
  });

  it("fails with audit_unavailable within its bound while the chain is locked, instead of hanging", async () => {
    const appender = appenderFor(store.db, { timeoutMs: 300 });
    await appender.append(event("locked", 1));
    const holder = kind === "postgres" ? await store.reopen() : store.db;
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => { release = resolve; });
    let lockHeld: () => void = () => undefined;
    const held = new Promise<void>((resolve) => { lockHeld = resolve; });
    const holding = holder.transaction(async (tx) => {
      await tx.query("SELECT chain FROM audit_chains WHERE chain = 'locked' FOR UPDATE");
      lockHeld();
      await released;
    });
    await held;
    let settledWhileLocked = false;
    const outcome = await appender.append(event("locked", 2)).then(
      () => "committed",
      (error: unknown) => {
        settledWhileLocked = true;
        return error instanceof CustosError ? error.code : String(error);
      },
    );
    release();
    await holding;
    expect(outcome).toBe("audit_unavailable");
    expect(settledWhileLocked).toBe(true);
    await appender.drain();
    if (holder !== store.db) await holder.close();
    expect((await verify(store.db, "locked")).ok).toBe(true);
  });

  // PGlite is single-process, so there two appender instances over one handle stand in for
  // two processes; on the PostgreSQL server a real second process appends.
  const acrossWhat = kind === "postgres" ? "two processes" : "two appender instances (PGlite is single-process)";
  it(`64 appenders across ${acrossWhat} produce one gapless chain that verifies`, async () => {
    const appender = appenderFor(store.db, { maxBatchSize: 4 });
    if (kind === "postgres") {
      const [worker, local] = await Promise.all([
        runWorker(store.env, "two-processes", 32),
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
