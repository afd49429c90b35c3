import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signCheckpoint } from "../../src/audit/checkpoints.ts";
import type { GroupCommitAppender } from "../../src/audit/group-commit-appender.ts";
import { exportMirror, readMirror } from "../../src/audit/mirror.ts";
import type { AuditSigner } from "../../src/audit/audit-signer.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore } from "../support/stores.ts";
import { appendEvents, appenderFor, asDba, migrated, newSigner, rewriteAndRechain, verify, verifyBothWays } from "./audit-fixtures.ts";

/**
 * The attacker shapes of DESIGN.md's threat model, each on its own chain of 20 events in
 * one database: every one is detected, with the right kind and the right seq, on this thread
 * and (without a mirror) on verification workers alike (verifyBothWays).
 */
describe.each(storeKinds())("audit tamper detection on %s", (kind) => {
  let store: IsolatedStore;
  let appender: GroupCommitAppender;
  let signer: AuditSigner;
  let scratch: string;
  let chainCounter = 0;

  beforeAll(async () => {
    store = await createIsolatedStore(kind);
    await migrated(store.db);
    appender = appenderFor(store.db);
    signer = newSigner();
    scratch = await mkdtemp(path.join(os.tmpdir(), "custos-mirror-"));
  });
  afterAll(async () => {
    await appender.drain();
    await store.dispose();
    await rm(scratch, { recursive: true, force: true });
  });

  async function chainOf(count = 20): Promise<string> {
    chainCounter += 1;
    const chain = `tenant-${String(chainCounter)}`;
    await appendEvents(appender, chain, count);
    return chain;
  }

  it("an untouched chain verifies, with its head", async () => {
    const chain = await chainOf();
    const report = await verifyBothWays(store.db, chain);
    expect(report).toMatchObject({ ok: true, rows_checked: 20, failure: null, head: { seq: 20 } });
  });

  it("a row whose details a DBA rewrote is a hash_mismatch at that seq", async () => {
    const chain = await chainOf();
    await asDba(store.db, async (tx) => {
      await tx.query(`UPDATE audit_events SET details = '{"n": 7, "note": "nothing to see"}'::jsonb WHERE chain = $1 AND seq = 7`, [chain]);
    });
    const report = await verifyBothWays(store.db, chain);
    expect(report.ok).toBe(false);
    expect(report.failure).toMatchObject({ kind: "hash_mismatch", seq: 7 });
    expect(report.rows_checked).toBe(6);
  });

  it("a row rewritten with its own hash recomputed (but not the next link) is a broken_link after it", async () => {
    const chain = await chainOf();
    const rows = await store.db.query<{ hash: string }>("SELECT hash FROM audit_events WHERE chain = $1 AND seq = 9", [chain]);
    await rewriteAndRechain(store.db, chain, 9, (row) => ({ ...row, details: { n: 9, note: "rewritten" } }));
    // Put back every later row's original link so only row 9 moved.
    await asDba(store.db, async (tx) => {
      await tx.query("UPDATE audit_events SET prev_hash = $1 WHERE chain = $2 AND seq = 10", [rows[0]?.hash, chain]);
    });
    const report = await verifyBothWays(store.db, chain);
    expect(report.failure).toMatchObject({ kind: "broken_link", seq: 10 });
  });

  it("a rewrite with every later hash recomputed verifies on its own, and is a checkpoint_mismatch against a checkpoint held outside", async () => {
    const chain = await chainOf();
    const checkpoint = await signCheckpoint(store.db, signer, chain);
    await rewriteAndRechain(store.db, chain, 5, (row) => ({ ...row, details: { n: 5, note: "forged" } }));

    const alone = await verifyBothWays(store.db, chain);
    expect(alone.ok).toBe(true);

    const report = await verifyBothWays(store.db, chain, { checkpoint, signer });
    expect(report.ok).toBe(false);
    expect(report.failure).toMatchObject({ kind: "checkpoint_mismatch", seq: 20 });
  });

  it("a database restored from an older backup is a checkpoint_mismatch at the newer checkpoint's seq", async () => {
    const chain = await chainOf();
    const checkpoint = await signCheckpoint(store.db, signer, chain);
    // The backup was taken at seq 15: rows 16 to 20 do not exist in it.
    await asDba(store.db, async (tx) => {
      await tx.query("DELETE FROM audit_events WHERE chain = $1 AND seq > 15", [chain]);
    });
    expect((await verifyBothWays(store.db, chain)).ok).toBe(true);
    const report = await verifyBothWays(store.db, chain, { checkpoint, signer });
    expect(report.failure).toMatchObject({ kind: "checkpoint_mismatch", seq: 20 });
    expect(report.rows_checked).toBe(15);
  });

  it("a mirror that diverges from the database names the first diverging seq", async () => {
    const chain = await chainOf();
    const dir = path.join(scratch, chain);
    await exportMirror(store.db, signer, chain, dir);
    await rewriteAndRechain(store.db, chain, 12, (row) => ({ ...row, details: { n: 12, note: "forged" } }));
    const report = await verify(store.db, chain, { mirror: readMirror(dir, signer, chain), signer });
    expect(report.failure).toMatchObject({ kind: "mirror_divergence", seq: 12 });
    expect(report.mirror?.rows_compared).toBe(11);
  });

  it("a database behind its mirror (restored backup) is a mirror_divergence at the first missing seq", async () => {
    const chain = await chainOf();
    const dir = path.join(scratch, chain);
    await exportMirror(store.db, signer, chain, dir);
    await asDba(store.db, async (tx) => {
      await tx.query("DELETE FROM audit_events WHERE chain = $1 AND seq > 17", [chain]);
    });
    const report = await verify(store.db, chain, { mirror: readMirror(dir, signer, chain), signer });
    expect(report.failure).toMatchObject({ kind: "mirror_divergence", seq: 18 });
  });

  it("an edited mirror line is a mirror_divergence, and a re-signed manifest with another key a bad_signature", async () => {
    const chain = await chainOf();
    const dir = path.join(scratch, chain);
    await exportMirror(store.db, signer, chain, dir);
    const [segment] = await readdir(path.join(dir, "segments"));
    if (segment === undefined) throw new Error("no segment written");
    const file = path.join(dir, "segments", segment);
    const lines = (await readFile(file, "utf8")).split("\n");
    lines[3] = (lines[3] ?? "").replace('"ok"', '"okay"');
    await writeFile(file, lines.join("\n"));
    const edited = await verify(store.db, chain, { mirror: readMirror(dir, signer, chain), signer });
    expect(edited.failure).toMatchObject({ kind: "mirror_divergence", seq: 4 });

    const forged = await verify(store.db, chain, { mirror: readMirror(dir, newSigner(), chain), signer });
    expect(forged.failure).toMatchObject({ kind: "bad_signature" });
  });

  it("a deleted row is a gap at its seq", async () => {
    const chain = await chainOf();
    await asDba(store.db, async (tx) => {
      await tx.query("DELETE FROM audit_events WHERE chain = $1 AND seq = 7", [chain]);
    });
    const report = await verifyBothWays(store.db, chain);
    expect(report.failure).toMatchObject({ kind: "gap", seq: 7 });
  });

  it("a row forged far past the head is a gap, found without walking the empty range", async () => {
    const chain = await chainOf();
    await asDba(store.db, async (tx) => {
      await tx.query(
        `INSERT INTO audit_events (chain, seq, at, actor, action, resource, decision, reason, request_id, details, prev_hash, hash)
         SELECT chain, 1000000000000, at, actor, action, resource, decision, reason, request_id, details, prev_hash, hash
           FROM audit_events WHERE chain = $1 AND seq = 20`,
        [chain],
      );
    });
    const report = await verifyBothWays(store.db, chain);
    expect(report.failure).toMatchObject({ kind: "gap", seq: 21 });
  });

  it("two swapped rows break the chain at the first of them", async () => {
    const chain = await chainOf();
    await asDba(store.db, async (tx) => {
      await tx.query("UPDATE audit_events SET seq = 1000005 WHERE chain = $1 AND seq = 5", [chain]);
      await tx.query("UPDATE audit_events SET seq = 5 WHERE chain = $1 AND seq = 6", [chain]);
      await tx.query("UPDATE audit_events SET seq = 6 WHERE chain = $1 AND seq = 1000005", [chain]);
    });
    const report = await verifyBothWays(store.db, chain);
    expect(report.failure).toMatchObject({ kind: "broken_link", seq: 5 });
  });

  it("a checkpoint whose hash was altered, or signed by another key, is a bad_signature", async () => {
    const chain = await chainOf();
    const checkpoint = await signCheckpoint(store.db, signer, chain);
    const altered = { ...checkpoint, hash: "0".repeat(64) };
    expect((await verifyBothWays(store.db, chain, { checkpoint: altered, signer })).failure).toMatchObject({ kind: "bad_signature", seq: 20 });
    const otherKey = await signCheckpoint(store.db, newSigner(), chain);
    expect((await verifyBothWays(store.db, chain, { checkpoint: otherKey, signer })).failure).toMatchObject({ kind: "bad_signature" });
    expect((await verifyBothWays(store.db, chain, { checkpoint, signer })).ok).toBe(true);
  });

  it("repeated exports append only what is new, and the grown mirror still verifies", async () => {
    const chain = await chainOf(5);
    const dir = path.join(scratch, chain);
    expect(await exportMirror(store.db, signer, chain, dir)).toMatchObject({ rows_written: 5, segments_written: 1 });
    expect(await exportMirror(store.db, signer, chain, dir)).toMatchObject({ rows_written: 0, segments_written: 0 });
    await appendEvents(appender, chain, 3);
    expect(await exportMirror(store.db, signer, chain, dir)).toMatchObject({ rows_written: 3, segments_written: 1, head: { seq: 8 } });
    expect((await readdir(path.join(dir, "segments"))).length).toBe(2);
    const report = await verify(store.db, chain, { mirror: readMirror(dir, signer, chain), signer });
    expect(report).toMatchObject({ ok: true, rows_checked: 8, mirror: { rows_compared: 8 } });
  });
});
