import type { Database } from "../platform/db/database.ts";
import type { ChainedAuditRecord } from "./audit-record.ts";
import type { AuditKeyVerifier } from "./audit-signer.ts";
import { readHeadSeq, readMatchingRecords, readRecords, streamRecordPages, streamRecordPageTexts, type AuditEventFilter } from "./audit-store.ts";
import { verifyCheckedPages, type VerificationReport } from "./audit-verifier.ts";
import type { SignedCheckpoint } from "./checkpoints.ts";
import { checkPagesInWorkers } from "./verification-workers.ts";

/** The verbs behind the audit routes and the CLI: plain inputs, plain results. */

export interface AuditEventsPage {
  readonly chain: string;
  readonly events: readonly ChainedAuditRecord[];
  /**
   * The cursor for the next page: the last seq returned, or `after` when the page is empty.
   * With a filter, the last seq examined: a page may hold fewer events than asked for (even
   * none) while more remain, because one request examines a bounded window of the chain.
   */
  readonly next_after: number;
  /** Whether the chain goes on after next_after (ask again with after=next_after). */
  readonly more: boolean;
}

/** The rows one filtered request examines at most: its cost, whatever the filter matches. */
export const FILTER_WINDOW = 10_000;

/** A filter that narrows nothing: the plain page, read as before. */
export function isEmptyFilter(filter: AuditEventFilter): boolean {
  return Object.values(filter).every((value) => value === undefined);
}

export async function readAuditEvents(
  db: Database,
  input: { readonly chain: string; readonly after: number; readonly limit: number; readonly filter?: AuditEventFilter },
): Promise<AuditEventsPage> {
  const filter = input.filter ?? {};
  const head = await readHeadSeq(db, input.chain);
  if (isEmptyFilter(filter)) {
    const events = await readRecords(db, input.chain, input.after, input.limit);
    const nextAfter = events.at(-1)?.seq ?? input.after;
    return { chain: input.chain, events, next_after: nextAfter, more: nextAfter < head };
  }
  const events = await readMatchingRecords(db, input.chain, filter, input.after, FILTER_WINDOW, input.limit);
  const nextAfter = events.length === input.limit ? (events.at(-1)?.seq ?? input.after) : Math.min(input.after + FILTER_WINDOW, head);
  return { chain: input.chain, events, next_after: Math.max(nextAfter, input.after), more: nextAfter < head };
}

export interface VerifyAuditChainOptions {
  /** A checkpoint kept outside the database, and the key to check its signature. */
  readonly checkpoint?: SignedCheckpoint;
  readonly signer?: AuditKeyVerifier;
  readonly onProgress?: (rowsChecked: number) => void;
  readonly progressEvery?: number;
  /** Rows a page (5000 by default). */
  readonly pageSize?: number;
  /** Verification worker threads (see checkPagesInWorkers). */
  readonly workers?: number;
}

/**
 * Walks the whole chain in the database, a page at a time, and reports the first failure
 * (verifyChain's checks and order). Pages after the first are parsed and hashed on worker
 * threads while this thread reads the next; a worker that fails makes this reject, never
 * report the chain verified.
 */
export async function verifyAuditChain(db: Database, chain: string, options: VerifyAuditChainOptions = {}): Promise<VerificationReport> {
  const { pageSize = 5000, workers, ...walk } = options;
  return verifyCheckedPages({
    chain,
    ...walk,
    pages: (checkpoint) => checkPagesInWorkers(streamRecordPageTexts(db, chain, { pageSize }), { chain, checkpoint, ...(workers === undefined ? {} : { workers }) }),
  });
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
