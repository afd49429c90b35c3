import type { SqlSession } from "../platform/db/database.ts";
import type { AuditEventInput } from "./audit-port.ts";
import { chainRecord, genesisHash, type ChainedAuditRecord } from "./audit-record.ts";
import { insertRecords, lockChainAndReadHead } from "./audit-store.ts";
import { normaliseAuditEvent } from "./group-commit-appender.ts";

/**
 * Appends one record inside a transaction the caller already holds, so that the record and
 * the change it describes commit or roll back together (the CLI's audited operations; the
 * server's hot path goes through the group-commit appender instead).
 */
export async function appendInTransaction(tx: SqlSession, event: AuditEventInput, at: Date = new Date()): Promise<ChainedAuditRecord> {
  const input = normaliseAuditEvent(event);
  const genesis = genesisHash(input.chain);
  const head = await lockChainAndReadHead(tx, input.chain, genesis);
  const record = chainRecord({
    chain: input.chain,
    seq: (head?.seq ?? 0) + 1,
    at: at.toISOString(),
    actor: input.actor,
    action: input.action,
    resource: input.resource,
    decision: input.decision,
    reason: input.reason,
    request_id: input.requestId,
    details: input.details,
    prev_hash: head?.hash ?? genesis,
  });
  await insertRecords(tx, [record]);
  return record;
}
