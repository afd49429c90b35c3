import { randomBytes } from "node:crypto";
import { chainRecord, genesisHash, type ChainedAuditRecord } from "../../src/audit/audit-record.ts";
import { ensureChain, readChainHead } from "../../src/audit/audit-store.ts";
import type { Database } from "../../src/platform/db/database.ts";

/** Rows per INSERT: eight array parameters of this length travel in one statement. */
const FILL_BATCH = 20_000;

/**
 * Appends `rows` records to `chain` as a valid chain (each hashed by `chainRecord`, linked to
 * the one before), fast: a batch of rows is one INSERT … SELECT FROM unnest of eight array
 * parameters, not a statement with twelve parameters per row. Setup for benchmarks only: it
 * bypasses the appender's lock, so nothing else may append to the chain meanwhile.
 */
export async function fillChain(
  db: Database,
  chain: string,
  rows: number,
  onProgress?: (done: number) => void,
): Promise<void> {
  await ensureChain(db, chain, genesisHash(chain));
  const head = await readChainHead(db, chain);
  let prev = head?.hash ?? genesisHash(chain);
  let seq = head?.seq ?? 0;
  const at = new Date().toISOString();
  for (let done = 0; done < rows; ) {
    const records: ChainedAuditRecord[] = [];
    for (const end = Math.min(done + FILL_BATCH, rows); done < end; done += 1) {
      seq += 1;
      const record = chainRecord({
        chain, seq, at,
        actor: `node:${randomBytes(16).toString("hex")}`,
        action: "secret.read",
        resource: `secret:${chain}/database-password`,
        decision: "granted",
        reason: "ok",
        request_id: `bench-${String(seq)}`,
        details: { kid: `k${String(seq % 7)}`, version: 3 },
        prev_hash: prev,
      });
      prev = record.hash;
      records.push(record);
    }
    const column = <K extends keyof ChainedAuditRecord>(key: K) => records.map((record) => record[key]);
    await db.query(
      `INSERT INTO audit_events (chain, seq, at, actor, action, resource, decision, reason, request_id, details, prev_hash, hash)
       SELECT $1, s, $2::timestamptz, a, 'secret.read', $3, 'granted', 'ok', r, d::jsonb, p, h
         FROM unnest($4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) AS t(s, a, r, d, p, h)`,
      [
        chain, at, `secret:${chain}/database-password`,
        column("seq"), column("actor"), column("request_id"),
        records.map((record) => JSON.stringify(record.details)), column("prev_hash"), column("hash"),
      ],
    );
    onProgress?.(done);
  }
}
