import type { Database } from "../platform/db/database.ts";
import type { ChainedAuditRecord } from "./audit-record.ts";
import { readRecords, streamRecordPages } from "./audit-store.ts";
import { verifyChain, type VerificationReport } from "./audit-verifier.ts";

/** The verbs behind the audit routes and the CLI: plain inputs, plain results. */

export interface AuditEventsPage {
  readonly chain: string;
  readonly events: readonly ChainedAuditRecord[];
  /** The cursor for the next page: the last seq returned, or `after` when the page is empty. */
  readonly next_after: number;
}

export async function readAuditEvents(db: Database, input: { readonly chain: string; readonly after: number; readonly limit: number }): Promise<AuditEventsPage> {
  const events = await readRecords(db, input.chain, input.after, input.limit);
  return { chain: input.chain, events, next_after: events.at(-1)?.seq ?? input.after };
}

/** Walks the whole chain, a page at a time, and reports the first failure. */
export async function verifyAuditChain(db: Database, chain: string): Promise<VerificationReport> {
  return verifyChain({ chain, records: streamRecordPages(db, chain) });
}

/**
 * The chain's records after `after` (at most `limit`), one JSON line each: the same bytes as
 * a mirror segment's lines, for log pipelines (GET …/audit/events?format=jsonl).
 */
export async function* auditEventLines(
  db: Database,
  input: { readonly chain: string; readonly after: number; readonly limit?: number },
): AsyncGenerator<string> {
  let left = input.limit ?? Number.POSITIVE_INFINITY;
  for await (const page of streamRecordPages(db, input.chain, { afterSeq: input.after, pageSize: 1000 })) {
    const lines = page.slice(0, Math.min(page.length, left)).map((record) => `${JSON.stringify(record)}\n`);
    left -= lines.length;
    yield lines.join("");
    if (left <= 0) return;
  }
}
