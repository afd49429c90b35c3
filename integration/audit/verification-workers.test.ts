import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyAuditChain } from "../../src/audit/audit-reads.ts";
import { streamRecordPageTexts } from "../../src/audit/audit-store.ts";
import { verifyCheckedPages } from "../../src/audit/audit-verifier.ts";
import type { GroupCommitAppender } from "../../src/audit/group-commit-appender.ts";
import { checkPagesInWorkers, MAX_VERIFICATION_WORKERS } from "../../src/audit/verification-workers.ts";
import type { Database } from "../../src/platform/db/database.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore } from "../support/stores.ts";
import { appendEvents, appenderFor, asDba, migrated, verify } from "./audit-fixtures.ts";

const failingWorker = new URL("./failing-verification-worker.ts", import.meta.url);

/** The walk of verifyAuditChain, with the worker's module named: a failing one here. */
function verifyWith(db: Database, chain: string, module: URL, pageSize: number) {
  return verifyCheckedPages({
    chain,
    pages: (checkpoint) => checkPagesInWorkers(streamRecordPageTexts(db, chain, { pageSize }), { chain, checkpoint, workers: 2, module }),
  });
}

/**
 * Verification on worker threads (verification-workers.ts), beyond the tamper shapes that
 * tamper.test.ts runs both ways: pages go round several workers and come back in order, a
 * tampered row in a worker's page is found as on this thread, and a worker that dies fails
 * the walk closed.
 */
describe.each(storeKinds())("chain verification on worker threads on %s", (kind) => {
  let store: IsolatedStore;
  let appender: GroupCommitAppender;

  beforeAll(async () => {
    store = await createIsolatedStore(kind);
    await migrated(store.db);
    appender = appenderFor(store.db);
    await appendEvents(appender, "intact", 40);
    await appendEvents(appender, "tampered", 40);
    await appendEvents(appender, "short", 3);
  });
  afterAll(async () => {
    await appender.drain();
    await store.dispose();
  });

  it("checks pages on three workers, in order: the same report and progress as on this thread", async () => {
    const seen: number[] = [];
    const report = await verifyAuditChain(store.db, "intact", { pageSize: 3, workers: 3, progressEvery: 7, onProgress: (rows) => seen.push(rows) });
    expect(report).toEqual(await verify(store.db, "intact"));
    expect(report).toMatchObject({ ok: true, rows_checked: 40, head: { seq: 40 } });
    expect(seen).toEqual([7, 14, 21, 28, 35]);
  });

  it("finds a row rewritten in a page a worker checked: the same kind, seq and rows checked", async () => {
    await asDba(store.db, async (tx) => {
      await tx.query(`UPDATE audit_events SET actor = 'node:someone-else' WHERE chain = 'tampered' AND seq = 31`);
    });
    const report = await verifyAuditChain(store.db, "tampered", { pageSize: 4, workers: 2 });
    expect(report.failure).toMatchObject({ kind: "hash_mismatch", seq: 31 });
    expect(report).toMatchObject({ ok: false, rows_checked: 30, head: { seq: 30 } });
    expect(report).toEqual(await verify(store.db, "tampered"));
  });

  it("rejects when a worker dies, never reporting the chain verified", async () => {
    await expect(verifyWith(store.db, "intact", failingWorker, 5)).rejects.toThrow(/verification worker failed/);
  });

  it("shares MAX_VERIFICATION_WORKERS among walks: one that finds none left checks on this thread, and the budget comes back", async () => {
    // A walk held open after its second page: it holds every worker of the budget.
    const holder = checkPagesInWorkers(streamRecordPageTexts(store.db, "intact", { pageSize: 3 }), { chain: "intact", checkpoint: undefined, workers: MAX_VERIFICATION_WORKERS });
    expect((await holder.next()).value).toMatchObject({ passed: 3, failure: null });
    expect((await holder.next()).value).toMatchObject({ passed: 3, failure: null });
    // The failing worker would reject the walk had it started: none is left, so it does not.
    expect(await verifyWith(store.db, "intact", failingWorker, 5)).toMatchObject({ ok: true, rows_checked: 40 });
    await holder.return(undefined);
    await expect(verifyWith(store.db, "intact", failingWorker, 5)).rejects.toThrow(/verification worker failed/);
  });

  it("checks a chain of one page on this thread: no worker starts", async () => {
    // The failing worker would reject the walk had it been given a page.
    expect(await verifyWith(store.db, "short", failingWorker, 5)).toMatchObject({ ok: true, rows_checked: 3 });
  });
});
