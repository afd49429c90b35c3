import { generateKeyPairSync } from "node:crypto";
import { expect } from "vitest";
import { verifyAuditChain } from "../../src/audit/audit-reads.ts";
import type { AuditEventInput } from "../../src/audit/audit-port.ts";
import { createKeyObjectSigner, type AuditSigner } from "../../src/audit/audit-signer.ts";
import { chainRecord, type ChainedAuditRecord } from "../../src/audit/audit-record.ts";
import { readRecords, streamRecordPages } from "../../src/audit/audit-store.ts";
import { verifyChain, type VerificationReport } from "../../src/audit/audit-verifier.ts";
import { createGroupCommitAppender, type AppendPath, type GroupCommitAppender } from "../../src/audit/group-commit-appender.ts";
import { MIGRATIONS_DIR } from "../../src/package-paths.ts";
import type { Database, SqlSession } from "../../src/platform/db/database.ts";
import { loadMigrations, migrateUp } from "../../src/platform/db/migrate.ts";

export async function migrated(db: Database): Promise<Database> {
  await migrateUp(db, await loadMigrations(MIGRATIONS_DIR));
  return db;
}

export function newSigner(): AuditSigner {
  return createKeyObjectSigner(generateKeyPairSync("ed25519").privateKey);
}

export function appenderFor(db: Database, options: { timeoutMs?: number; maxBatchSize?: number; onBatchCommitted?: (chain: string, size: number, path: AppendPath) => void; contendedForMs?: number } = {}): GroupCommitAppender {
  return createGroupCommitAppender({ db, timeoutMs: options.timeoutMs ?? 10_000, ...options });
}

export function event(chain: string, n: number, overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    chain,
    actor: `node:${String(n)}`,
    action: "secret.read",
    resource: `secret:${chain}/db-password`,
    decision: "granted",
    reason: "ok",
    requestId: `req-${String(n)}`,
    details: { n, note: "ünïcode ✓ and \"quotes\"" },
    ...overrides,
  };
}

/** Appends `count` events one after another (so each is its own batch). */
export async function appendEvents(appender: GroupCommitAppender, chain: string, count: number): Promise<void> {
  for (let n = 1; n <= count; n += 1) await appender.append(event(chain, n));
}

export function verify(db: Database, chain: string, extra: Partial<Parameters<typeof verifyChain>[0]> = {}): Promise<VerificationReport> {
  return verifyChain({ chain, records: streamRecordPages(db, chain, { pageSize: 7 }), ...extra });
}

/**
 * verify, and the walk `custos audit verify` and the verify route run: the pages after the
 * first (of 7 rows: three pages for 20 events) parsed and hashed on a worker thread (one, to
 * keep the file fast: verification-workers.test.ts runs several). The two reports must be
 * equal (kind, seq, rows checked, head); the first is returned.
 */
export async function verifyBothWays(
  db: Database,
  chain: string,
  extra: Pick<Parameters<typeof verifyChain>[0], "checkpoint" | "signer"> = {},
): Promise<VerificationReport> {
  const report = await verify(db, chain, extra);
  expect(await verifyAuditChain(db, chain, { ...extra, pageSize: 7, workers: 1 })).toEqual(report);
  return report;
}

export async function rowsOf(db: Database, chain: string): Promise<ChainedAuditRecord[]> {
  return readRecords(db, chain, 0, 100_000);
}

/**
 * What a DBA with full rights can do: switch the append-only triggers off for one
 * transaction and change rows directly.
 */
export async function asDba(db: Database, work: (tx: SqlSession) => Promise<void>): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query("ALTER TABLE audit_events DISABLE TRIGGER USER");
    await work(tx);
    await tx.query("ALTER TABLE audit_events ENABLE TRIGGER USER");
  });
}

/** Rewrites rows from `fromSeq` on as a DBA who recomputes every hash so the chain links again. */
export async function rewriteAndRechain(
  db: Database,
  chain: string,
  fromSeq: number,
  change: (record: ChainedAuditRecord) => ChainedAuditRecord,
): Promise<void> {
  const rows = await rowsOf(db, chain);
  await asDba(db, async (tx) => {
    let prevHash = rows.find((row) => row.seq === fromSeq - 1)?.hash ?? rows[0]?.prev_hash ?? "";
    for (const row of rows.filter((r) => r.seq >= fromSeq)) {
      const changed = row.seq === fromSeq ? change(row) : row;
      const rechained = chainRecord({ ...changed, prev_hash: prevHash });
      await tx.query("UPDATE audit_events SET details = $1::jsonb, prev_hash = $2, hash = $3 WHERE chain = $4 AND seq = $5", [
        JSON.stringify(rechained.details),
        rechained.prev_hash,
        rechained.hash,
        chain,
        row.seq,
      ]);
      prevHash = rechained.hash;
    }
  });
}
