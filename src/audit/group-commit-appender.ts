import type { Span } from "@opentelemetry/api";
import { CustosError } from "../platform/errors.ts";
import { activeSpan } from "../platform/telemetry.ts";
import type { Database } from "../platform/db/database.ts";
import { parseChainName } from "../platform/names.ts";
import type { AuditAppender, AuditEventInput, AuditReceipt } from "./audit-port.ts";
import { chainRecord, genesisHash, type ChainedAuditRecord } from "./audit-record.ts";
import { appendAtKnownHead, insertRecords, isHeadMoved, lockChainAndReadHead, readChainHead, recordStands } from "./audit-store.ts";
import { auditActor, auditResource } from "./audit-vocabulary.ts";

export interface GroupCommitAppenderOptions {
  readonly db: Database;
  /** Upper bound on one append, from call to durable commit (CUSTOS_AUDIT_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /** Most events committed in one transaction; 1 gives one transaction per event. */
  readonly maxBatchSize?: number;
  readonly clock?: () => Date;
  /** Told the size of every committed batch, and the way it went in (metrics, benchmarks). */
  readonly onBatchCommitted?: (chain: string, size: number, path: AppendPath) => void;
  /** Told of every batch whose transaction failed (metrics). */
  readonly onBatchFailed?: (chain: string, size: number) => void;
  /**
   * After another writer moved a chain's head under a batch, how long the chain's batches read
   * the head afresh before their one-round-trip insert, rather than trust the one this
   * appender left; 1 s by default.
   */
  readonly contendedForMs?: number;
}

/**
 * How a batch went into its chain: at the head this appender's last batch left, in one round
 * trip (`known_head`); at a head just read, because another writer appends to the chain too
 * (`fresh_head`); the long way, under the chain's lock, after another writer moved the head
 * (`locked`); or found committed after its transaction failed to say so (`recovered`). Many
 * `locked` batches mean writers taking turns on one chain (replicas serving one domain).
 */
export type AppendPath = "known_head" | "fresh_head" | "locked" | "recovered";

export interface GroupCommitAppender extends AuditAppender {
  /** Resolves once every append already made has settled. */
  drain(): Promise<void>;
}

interface PendingAppend {
  readonly event: NormalisedEvent;
  /** performance.now() by which the caller is answered, committed or not. */
  readonly deadline: number;
  /** The caller's recording span, told the size of its batch and how long it waited to join one. */
  readonly span: Span | undefined;
  readonly queuedAt: number;
  settled: boolean;
  settle(outcome: { receipt: AuditReceipt } | { error: CustosError }): void;
}

/** Where the next record links: the seq and hash of the chain's last one. */
interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

interface NormalisedEvent extends AuditEventInput {
  readonly details: Readonly<Record<string, unknown>>;
}

function auditUnavailable(detail: string, cause?: unknown): CustosError {
  return new CustosError("audit_unavailable", { detail, cause });
}

const ANSWERED_BEFORE_COMMIT = "a caller of this batch was answered before it could commit";

/** The batch rolled itself back on purpose: nothing can have been committed. */
function isAnsweredBeforeCommit(error: unknown): boolean {
  return error instanceof CustosError && error.detail === ANSWERED_BEFORE_COMMIT;
}

/** How often, and how long apart, a batch whose outcome the store never reported is asked about. */
const LATE_COMMIT_RECHECKS = 30;
const LATE_COMMIT_RECHECK_MS = 1000;

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * Refuses, before it can join a batch, an event the database would reject: one bad event
 * must not fail the other callers committed with it. Details are normalised through JSON so
 * that what is hashed is exactly what jsonb stores and gives back.
 */
export function normaliseAuditEvent(event: AuditEventInput): NormalisedEvent {
  parseChainName(event.chain);
  for (const field of ["actor", "action", "resource", "reason", "requestId"] as const) {
    const value = event[field];
    if (typeof value !== "string" || value.length === 0 || hasControlCharacter(value)) {
      throw new TypeError(`audit event ${field} must be a non-empty string without control characters`);
    }
  }
  if (!["granted", "denied", "recorded"].includes(event.decision)) {
    throw new TypeError("audit event decision must be granted, denied or recorded");
  }
  const json = JSON.stringify(event.details ?? {});
  if (json.includes("\\u0000")) throw new TypeError("audit event details must not contain NUL");
  const details = JSON.parse(json) as unknown;
  if (details === null || typeof details !== "object" || Array.isArray(details)) {
    throw new TypeError("audit event details must be a JSON object");
  }
  return { ...event, details: details as Record<string, unknown> };
}

/**
 * The fail-closed appender (DESIGN.md, "Audit log"). Appends to one chain that arrive while
 * a commit is in flight wait together and are chained and committed in the next single
 * transaction (group commit); each caller's promise settles with that transaction's outcome,
 * so a failed commit rejects the whole batch and leaves none of its rows. A caller that
 * waits longer than the bound is rejected with audit_unavailable; if its event had not yet
 * joined a batch it is never written.
 */
export function createGroupCommitAppender(options: GroupCommitAppenderOptions): GroupCommitAppender {
  const { db, timeoutMs } = options;
  const maxBatchSize = options.maxBatchSize ?? 512;
  const clock = options.clock ?? (() => new Date());
  const queues = new Map<string, PendingAppend[]>();
  const draining = new Map<string, Promise<void>>();
  /** Each chain's head as this appender's last committed batch left it. */
  const heads = new Map<string, ChainHead>();
  /** performance.now() until which a chain, found appended to by another writer, goes the long way. */
  const contendedUntil = new Map<string, number>();
  const contendedForMs = options.contendedForMs ?? 1000;

  /**
   * The longest a batch's transaction may take: until the earliest deadline among its callers,
   * less a margin for the COMMIT's round trip. The transaction gives up before any of its
   * callers does, so a caller answered 503 does not leave a record behind it.
   */
  function transactionBudgetMs(batch: readonly PendingAppend[]): number {
    const earliest = Math.min(...batch.map((pending) => pending.deadline));
    const margin = Math.max(10, Math.min(100, Math.floor(timeoutMs / 10)));
    return Math.floor(earliest - performance.now()) - margin;
  }

  /** The batch's events as records chained onto the head. */
  function chainBatch(chain: string, batch: readonly PendingAppend[], head: ChainHead): ChainedAuditRecord[] {
    let { seq, hash: prevHash } = head;
    const at = clock().toISOString();
    return batch.map(({ event }) => {
      seq += 1;
      const record = chainRecord({
        chain,
        seq,
        at,
        actor: event.actor,
        action: event.action,
        resource: event.resource,
        decision: event.decision,
        reason: event.reason,
        request_id: event.requestId,
        details: event.details,
        prev_hash: prevHash,
      });
      prevHash = record.hash;
      return record;
    });
  }

  /** The transaction's budget now (see transactionBudgetMs), refusing the batch when none is left. */
  function budgetLeftMs(batch: readonly PendingAppend[]): number {
    const budgetMs = transactionBudgetMs(batch);
    if (budgetMs <= 0) throw auditUnavailable("no time left to commit before the callers' bound");
    return budgetMs;
  }

  /**
   * Commits the batch. When this appender committed the chain's last batch it knows the head,
   * and the batch goes in one round trip (appendAtKnownHead). If another appender (a replica,
   * the CLI) moved the head meanwhile, the primary key refuses it and the batch is chained
   * again the long way: the lock, the head read under it, the insert, each a round trip.
   */
  async function commitBatch(chain: string, batch: readonly PendingAppend[], onInserted: (records: readonly ChainedAuditRecord[]) => void): Promise<{ records: ChainedAuditRecord[]; path: AppendPath }> {
    budgetLeftMs(batch); // refuses at once, before any round trip, when no time is left
    let known = heads.get(chain);
    let path: AppendPath = "known_head";
    heads.delete(chain);
    // While another writer appends to the chain too (another replica), a remembered head is
    // most likely stale: the head is read first (without the lock, one round trip), so that
    // the lock is still held only for the pipelined insert's moment, not for the long way's
    // three round trips.
    if (performance.now() < (contendedUntil.get(chain) ?? 0)) {
      known = await readChainHead(db, chain);
      path = "fresh_head";
    }
    if (known !== undefined) {
      const records = chainBatch(chain, batch, known);
      // Checked before sending: nothing can be rolled back in between (see settleCommitted).
      if (batch.some((pending) => pending.settled)) throw auditUnavailable(ANSWERED_BEFORE_COMMIT);
      onInserted(records);
      try {
        if (await appendAtKnownHead(db, records, budgetLeftMs(batch))) return { records: remember(chain, records), path };
      } catch (error) {
        if (!isHeadMoved(error)) throw error;
        contendedUntil.set(chain, performance.now() + contendedForMs);
      }
    }
    const budgetMs = budgetLeftMs(batch);
    const records = await db.transaction(async (tx) => {
      const genesis = genesisHash(chain);
      // Another replica's batch may have committed while this one waited for the lock.
      const head = await lockChainAndReadHead(tx, chain, genesis, budgetMs);
      const chained = chainBatch(chain, batch, { seq: head?.seq ?? 0, hash: head?.hash ?? genesis });
      await insertRecords(tx, chained);
      onInserted(chained);
      // A caller already answered (its bound passed while the batch waited) must not find its
      // record committed after it was told there was none: the whole batch rolls back.
      if (batch.some((pending) => pending.settled)) {
        throw auditUnavailable(ANSWERED_BEFORE_COMMIT);
      }
      return chained;
    });
    return { records: remember(chain, records), path: "locked" };
  }

  /** The head a batch left, for the next batch of the chain; forgotten on any failure. */
  function remember(chain: string, records: ChainedAuditRecord[]): ChainedAuditRecord[] {
    const last = records.at(-1);
    if (last !== undefined) heads.set(chain, { seq: last.seq, hash: last.hash });
    return records;
  }

  async function drainChain(chain: string): Promise<void> {
    for (;;) {
      const queue = queues.get(chain) ?? [];
      const live = queue.filter((pending) => !pending.settled);
      const batch = live.slice(0, maxBatchSize);
      if (batch.length === 0) {
        // Both deleted in the same turn, so an append arriving next schedules a new drain.
        queues.delete(chain);
        draining.delete(chain);
        return;
      }
      queues.set(chain, live.slice(batch.length));
      const startedAt = performance.now();
      for (const pending of batch) {
        pending.span?.setAttributes({ "custos.audit.batch_size": batch.length, "custos.audit.wait_ms": startedAt - pending.queuedAt });
      }
      let inserted: readonly ChainedAuditRecord[] | undefined;
      try {
        const { records, path } = await commitBatch(chain, batch, (records) => { inserted = records; });
        settleCommitted(chain, batch, records, path);
      } catch (error) {
        // The connection may have gone after the server committed but before it said so: an
        // error is not proof that nothing was written. Ask, and treat what stands as committed.
        if (inserted !== undefined && !isAnsweredBeforeCommit(error) && (await batchStands(inserted))) {
          settleCommitted(chain, batch, inserted, "recovered");
          continue;
        }
        options.onBatchFailed?.(chain, batch.length);
        const failure = auditUnavailable("the audit record could not be committed", error);
        for (const pending of batch) pending.settle({ error: failure });
        if (inserted !== undefined && !isAnsweredBeforeCommit(error)) recheckLater(inserted);
      }
    }
  }

  function settleCommitted(chain: string, batch: readonly PendingAppend[], records: readonly ChainedAuditRecord[], path: AppendPath): void {
    options.onBatchCommitted?.(chain, records.length, path);
    batch.forEach((pending, index) => {
      const record = records[index];
      if (record === undefined) throw new Error("batch and records differ in length");
      // The bound passed while COMMIT was on the wire: the caller was refused, yet the
      // record stands. The chain says so rather than leave an unexplained "granted".
      if (pending.settled) recordLateCommit(record);
      pending.settle({ receipt: { chain, seq: record.seq, hash: record.hash } });
    });
  }

  /** True when the batch's records are in the chain (all or none: one transaction wrote them). */
  async function batchStands(records: readonly ChainedAuditRecord[]): Promise<boolean> {
    const [first] = records;
    if (first === undefined) return false;
    try {
      return await recordStands(db, first);
    } catch {
      return false;
    }
  }

  /**
   * The store could not say whether a failed batch committed: ask again for a while, and if
   * its records turn out to stand, note on the chain that their callers were refused.
   */
  function recheckLater(records: readonly ChainedAuditRecord[], attempt = 1): void {
    if (attempt > LATE_COMMIT_RECHECKS) return;
    const timer = setTimeout(() => {
      void batchStands(records).then((stands) => {
        if (stands) for (const record of records) recordLateCommit(record);
        else recheckLater(records, attempt + 1);
      });
    }, LATE_COMMIT_RECHECK_MS);
    timer.unref();
  }

  function recordLateCommit(record: ChainedAuditRecord): void {
    enqueue({
      chain: record.chain, actor: auditActor.custos, action: "audit.late_commit", resource: auditResource.chain(record.chain), decision: "recorded",
      reason: "caller_refused_before_commit", requestId: record.request_id,
      details: { seq: record.seq, resource: record.resource, refused_with: "audit_unavailable" },
    }).catch(() => undefined);
  }

  function schedule(chain: string): void {
    if (draining.has(chain)) return;
    // setImmediate, not a microtask: callers arriving in the same turn join the first batch.
    const run: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => drainChain(chain))
      .finally(() => {
        if (draining.get(chain) === run) draining.delete(chain);
      });
    draining.set(chain, run);
  }

  function enqueue(input: AuditEventInput): Promise<AuditReceipt> {
    let event: NormalisedEvent;
    try {
      event = normaliseAuditEvent(input);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new TypeError(String(error)));
    }
    return new Promise<AuditReceipt>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.settle({ error: auditUnavailable(`the audit log did not commit within ${String(timeoutMs)} ms`) });
      }, timeoutMs);
      const span = activeSpan();
      const now = performance.now();
      const pending: PendingAppend = {
        event,
        deadline: now + timeoutMs,
        span,
        queuedAt: now,
        settled: false,
        settle(outcome) {
          if (pending.settled) return;
          pending.settled = true;
          clearTimeout(timer);
          if ("receipt" in outcome) resolve(outcome.receipt);
          else reject(outcome.error);
        },
      };
      const queue = queues.get(event.chain);
      if (queue === undefined) queues.set(event.chain, [pending]);
      else queue.push(pending);
      schedule(event.chain);
    });
  }

  return {
    append: enqueue,

    async drain() {
      while (draining.size > 0) await Promise.all([...draining.values()]);
    },
  };
}
