import { sqlState, type Database, type SqlSession } from "../platform/db/database.ts";
import type { AuditDecision } from "./audit-port.ts";
import type { ChainedAuditRecord } from "./audit-record.ts";
import type { auditEventsTable } from "./audit.table.ts";

/**
 * The SQL behind the audit log, in one place. Timestamps are read back with to_char so that
 * PostgreSQL and PGlite return the exact string that was hashed, and details as text so both
 * drivers hand back the same JSON.
 */

/**
 * Takes the chain's lock row and then reads the chain's head, as every appender must before
 * it chains anything. The two statements are sent together (postgres.js pipelines them on the
 * transaction's connection): PostgreSQL runs the head's statement only once the lock's has
 * returned, so the head is the lock holder's, for one round trip instead of two. On a chain's
 * first event the lock takes the slow way (the row is created), and the head is read again.
 */
export async function lockChainAndReadHead(tx: SqlSession, chain: string, genesis: string, budgetMs?: number): Promise<ChainHead | undefined> {
  const [lockedAtOnce, head] = await Promise.all([lockChain(tx, chain, genesis, budgetMs), readChainHead(tx, chain)]);
  return lockedAtOnce ? head : readChainHead(tx, chain);
}

/**
 * Takes the chain's lock row, creating it on the chain's first event. Whoever holds it is
 * the only appender of that chain until its transaction ends, in this process or any other.
 * True when the row was there and its first statement took the lock.
 */
export async function lockChain(tx: SqlSession, chain: string, genesis: string, budgetMs?: number): Promise<boolean> {
  // The lock in a statement of its own: a head read in the statement that waited for the lock
  // would be the head as it was before the wait (PostgreSQL rechecks only the locked row).
  // With a budget, the transaction's statement and lock timeouts are set in the same round trip.
  const budget = budgetMs === undefined ? undefined : String(budgetMs);
  const locked = budget === undefined
    ? await tx.query("SELECT chain FROM audit_chains WHERE chain = $1 FOR UPDATE", [chain])
    : await tx.query(
      `SELECT set_config('statement_timeout', $2, true) AS st, set_config('lock_timeout', $2, true) AS lt, chain
         FROM audit_chains WHERE chain = $1 FOR UPDATE`,
      [chain, budget],
    );
  if (locked.length === 1) return true;
  // No row, so the select list above never ran: set the timeouts on their own.
  if (budget !== undefined) await tx.query("SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $1, true)", [budget]);
  await ensureChain(tx, chain, genesis);
  await tx.query("SELECT chain FROM audit_chains WHERE chain = $1 FOR UPDATE", [chain]);
  return false;
}

/** The chain's row, created if it is missing: audit events and checkpoints reference it. */
export async function ensureChain(session: SqlSession, chain: string, genesis: string): Promise<void> {
  await session.query("INSERT INTO audit_chains (chain, genesis) VALUES ($1, $2) ON CONFLICT (chain) DO NOTHING", [chain, genesis]);
}

/** The columns of audit_checkpoints a signed checkpoint fills (its whole document as jsonb). */
export interface CheckpointRow {
  readonly chain: string;
  readonly seq: number;
  readonly hash: string;
  readonly signed_at: string;
  readonly key_id: string;
}

/** Keeps the in-database copy of a signed checkpoint; the chain's row must exist (ensureChain). */
export async function insertCheckpoint(session: SqlSession, checkpoint: CheckpointRow): Promise<void> {
  await session.query(
    `INSERT INTO audit_checkpoints (chain, seq, hash, signed_at, key_id, checkpoint)
     VALUES ($1, $2, $3, $4::timestamptz, $5, $6::jsonb)`,
    [checkpoint.chain, checkpoint.seq, checkpoint.hash, checkpoint.signed_at, checkpoint.key_id, JSON.stringify(checkpoint)],
  );
}

/** A chain's head and its latest checkpoint, as the audit schedule weighs them. */
export interface ChainCheckpointStatus {
  readonly chain: string;
  /** The head's seq; 0 for a chain without records. */
  readonly headSeq: number;
  /** The highest checkpointed seq (the newest signature of it), or undefined: never checkpointed. */
  readonly checkpoint: { readonly seq: number; readonly signedAt: string } | undefined;
}

/**
 * Every chain's head and latest checkpoint (or one chain's) in one statement, in chain order:
 * each head and each checkpoint is one backward step of its primary key, whatever the chains'
 * lengths.
 */
export async function readChainStatuses(session: SqlSession, onlyChain?: string): Promise<ChainCheckpointStatus[]> {
  const rows = await session.query<{ chain: string; headSeq: number | string | null; checkpointSeq: number | string | null; signedAt: string | null }>(
    `SELECT c.chain, h.seq AS "headSeq", k.seq AS "checkpointSeq",
            to_char(k.signed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "signedAt"
       FROM audit_chains c
       LEFT JOIN LATERAL (SELECT e.seq FROM audit_events e WHERE e.chain = c.chain ORDER BY e.seq DESC LIMIT 1) h ON true
       LEFT JOIN LATERAL (SELECT p.seq, p.signed_at FROM audit_checkpoints p WHERE p.chain = c.chain
                           ORDER BY p.seq DESC, p.signed_at DESC LIMIT 1) k ON true
      WHERE $1::text IS NULL OR c.chain = $1
      ORDER BY c.chain`,
    [onlyChain ?? null],
  );
  return rows.map((row) => ({
    chain: row.chain,
    headSeq: row.headSeq === null ? 0 : Number(row.headSeq),
    checkpoint: row.checkpointSeq === null || row.signedAt === null ? undefined : { seq: Number(row.checkpointSeq), signedAt: row.signedAt },
  }));
}

/** The stored checkpoint documents of a chain, oldest seq first (what the schedule and the HTTP route signed). */
export async function readCheckpoints(session: SqlSession, chain: string): Promise<Record<string, unknown>[]> {
  const rows = await session.query<{ checkpoint: string }>(
    "SELECT checkpoint::text AS checkpoint FROM audit_checkpoints WHERE chain = $1 ORDER BY seq, signed_at",
    [chain],
  );
  return rows.map((row) => JSON.parse(row.checkpoint) as Record<string, unknown>);
}

/**
 * A transaction-scoped advisory lock, taken at once or not at all: true when this transaction
 * now holds it (until it ends), false when another session does. PGlite serves one process,
 * so there it is always granted; the statement is the same.
 */
export async function tryTransactionLock(tx: SqlSession, key: number): Promise<boolean> {
  const [row] = await tx.query<{ locked: boolean }>("SELECT pg_try_advisory_xact_lock($1) AS locked", [key]);
  return row?.locked === true;
}

/** One row of audit_signing_keys: the public half of an audit key and its validity interval. */
export interface SigningKeyRow {
  readonly keyId: string;
  /** `{kty: "OKP", crv: "Ed25519", x}`. */
  readonly publicJwk: Readonly<Record<string, unknown>>;
  /** ISO 8601 UTC with milliseconds, or null (signed before it was registered). */
  readonly validFrom: string | null;
  /** null while active. */
  readonly retiredAt: string | null;
}

/** Every audit key ever registered, oldest first. */
export async function readSigningKeys(session: SqlSession): Promise<SigningKeyRow[]> {
  const rows = await session.query<{ keyId: string; publicJwk: string; validFrom: string | null; retiredAt: string | null }>(
    `SELECT key_id AS "keyId", public_jwk::text AS "publicJwk",
            to_char(valid_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "validFrom",
            to_char(retired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "retiredAt"
       FROM audit_signing_keys ORDER BY valid_from ASC NULLS FIRST, key_id`,
  );
  return rows.map((row) => ({ ...row, publicJwk: JSON.parse(row.publicJwk) as Record<string, unknown> }));
}

/**
 * Registers a key as the active one. Does nothing when the key is already registered or
 * another key is active (another replica's registration won): the caller reads the keys again.
 */
export async function insertSigningKey(session: SqlSession, key: Omit<SigningKeyRow, "retiredAt">): Promise<void> {
  await session.query(
    `INSERT INTO audit_signing_keys (key_id, public_jwk, valid_from) VALUES ($1, $2::jsonb, $3::timestamptz) ON CONFLICT DO NOTHING`,
    [key.keyId, JSON.stringify(key.publicJwk), key.validFrom],
  );
}

/** Retires the key if it is the active one; false when it was not (already retired, or unknown). */
export async function retireSigningKey(tx: SqlSession, keyId: string, at: string): Promise<boolean> {
  const rows = await tx.query(
    "UPDATE audit_signing_keys SET retired_at = $2::timestamptz WHERE key_id = $1 AND retired_at IS NULL RETURNING key_id",
    [keyId, at],
  );
  return rows.length === 1;
}

export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
  readonly at: string;
}

export async function readChainHead(session: SqlSession, chain: string): Promise<ChainHead | undefined> {
  const [row] = await session.query<Pick<typeof auditEventsTable.$inferSelect, "hash" | "at"> & { seq: number | string }>(
    `SELECT seq, hash, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
       FROM audit_events WHERE chain = $1 ORDER BY seq DESC LIMIT 1`,
    [chain],
  );
  return row === undefined ? undefined : { seq: Number(row.seq), hash: row.hash, at: row.at };
}

/** Whether the record (chain, seq and hash) is in the chain: a batch whose commit went unanswered. */
export async function recordStands(session: SqlSession, record: Pick<ChainedAuditRecord, "chain" | "seq" | "hash">): Promise<boolean> {
  const rows = await session.query("SELECT 1 FROM audit_events WHERE chain = $1 AND seq = $2 AND hash = $3", [record.chain, record.seq, record.hash]);
  return rows.length > 0;
}

const INSERT_COLUMNS = "chain, seq, at, actor, action, resource, decision, reason, request_id, details, prev_hash, hash";
/**
 * One statement text whatever the batch size (the columns as arrays, unnested), so that it is
 * prepared once per connection rather than once per batch size.
 */
const INSERT_SELECT = `SELECT chain, seq, at::timestamptz, actor, action, resource, decision, reason, request_id, details::jsonb, prev_hash, hash
       FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
         AS r(${INSERT_COLUMNS})`;

/** The records as the twelve array parameters of INSERT_SELECT, one per column. */
function recordColumns(records: readonly ChainedAuditRecord[]): unknown[][] {
  const column = <T>(value: (record: ChainedAuditRecord) => T): T[] => records.map(value);
  return [
    column((r) => r.chain), column((r) => r.seq), column((r) => r.at), column((r) => r.actor), column((r) => r.action), column((r) => r.resource),
    column((r) => r.decision), column((r) => r.reason), column((r) => r.request_id), column((r) => JSON.stringify(r.details)), column((r) => r.prev_hash), column((r) => r.hash),
  ];
}

export async function insertRecords(tx: SqlSession, records: readonly ChainedAuditRecord[]): Promise<void> {
  if (records.length === 0) return;
  await tx.query(`INSERT INTO audit_events (${INSERT_COLUMNS}) ${INSERT_SELECT}`, recordColumns(records));
}

/**
 * Commits records chained onto a head the caller already knows (the last one it committed)
 * in one round trip: BEGIN, the transaction's timeouts, the insert, COMMIT, pipelined.
 *
 * The insert takes the chain's lock row in the same statement, so appenders that read the
 * head under the lock (lockChainAndReadHead) keep their guarantee. If another appender moved
 * the head meanwhile, the first record's seq is already taken: the primary key refuses the
 * whole batch (isHeadMoved) and no fork can commit. Resolves false, with nothing written,
 * when the chain has no lock row yet.
 */
export async function appendAtKnownHead(db: Database, records: readonly ChainedAuditRecord[], budgetMs: number): Promise<boolean> {
  const [first] = records;
  if (first === undefined) return true;
  const budget = String(budgetMs);
  const [, inserted] = await db.pipelinedTransaction([
    { text: "SELECT set_config('statement_timeout', $1, true) AS st, set_config('lock_timeout', $1, true) AS lt", params: [budget] },
    {
      text: `WITH locked AS (SELECT chain FROM audit_chains WHERE chain = $13 FOR UPDATE)
             INSERT INTO audit_events (${INSERT_COLUMNS}) ${INSERT_SELECT} WHERE EXISTS (SELECT 1 FROM locked) RETURNING seq`,
      params: [...recordColumns(records), first.chain],
    },
  // Past the budget and a second for COMMIT, the session is taken for lost: the chain's next
  // batch should not wait the whole query deadline behind a dead connection.
  ], { deadlineMs: budgetMs + 1000 });
  return inserted?.length === records.length;
}

/** The chain's head moved under an append at a known head: its first seq is someone else's. */
export function isHeadMoved(error: unknown): boolean {
  return sqlState(error) === "23505";
}

/** Separates the columns of one row in readRecords; the appender refuses it in text fields. */
export const FIELD_SEPARATOR = "\u001f";
/** Separates the rows of one page in readRecords. */
export const RECORD_SEPARATOR = "\u001e";

/** The columns of one record, joined by FIELD_SEPARATOR (see readPage for why one text value). */
const RECORD_TEXT = `concat_ws(E'\\x1f', chain, seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
              actor, action, resource, decision, reason, request_id, prev_hash, hash, details::text)`;

export async function readRecords(
  session: SqlSession,
  chain: string,
  afterSeq: number,
  limit: number,
): Promise<ChainedAuditRecord[]> {
  return readPage(session, "chain = $1 AND seq > $2", "$3", [chain, afterSeq, limit]);
}

/**
 * The rows of `audit_events` matching `where`, in seq order, at most `limit` (a parameter
 * reference), as records. The whole page travels as one text value, rows joined by
 * RECORD_SEPARATOR and columns by FIELD_SEPARATOR, split here: the driver decodes one value
 * instead of twelve per row, which is what keeps verification near the speed of hashing.
 * jsonb writes control characters in details as \u escapes, and the appender refuses them in
 * text columns, so neither separator can occur inside a value.
 *
 * Why no ORDER BY inside string_agg: it sorts every page again (a third of the query's time),
 * although the rows arrive in the subquery's order. PostgreSQL keeps that order in practice
 * without promising it, so parsePage puts a page that is not in seq order back in order.
 */
async function readPage(session: SqlSession, where: string, limit: string, parameters: readonly unknown[]): Promise<ChainedAuditRecord[]> {
  return parsePage(await readPageText(session, where, limit, parameters));
}

/** The page readPage reads, as the one text value the database sends (undefined: no rows). */
async function readPageText(session: SqlSession, where: string, limit: string, parameters: readonly unknown[]): Promise<string | undefined> {
  const [page] = await session.query<{ page: string | null }>(
    `SELECT string_agg(r, E'\\x1e') AS page FROM (
       SELECT seq, ${RECORD_TEXT} AS r FROM audit_events WHERE ${where} ORDER BY seq LIMIT ${limit}) rows`,
    parameters,
  );
  return page?.page ?? undefined;
}

/** The records of a page's text (readPageText), in its order. */
export function parsePage(page: string | undefined): ChainedAuditRecord[] {
  if (page === undefined) return [];
  const records = page.split(RECORD_SEPARATOR).map((r): ChainedAuditRecord => {
    const [rowChain = "", seq = "", at = "", actor = "", action = "", resource = "", decision = "", reason = "", requestId = "", prevHash = "", hash = "", details = "{}"] =
      r.split(FIELD_SEPARATOR);
    return {
      chain: rowChain,
      seq: Number(seq),
      at,
      actor,
      action,
      resource,
      decision: decision as AuditDecision,
      reason,
      request_id: requestId,
      details: JSON.parse(details) as Record<string, unknown>,
      prev_hash: prevHash,
      hash,
    };
  });
  const ordered = records.every((record, index) => index === 0 || record.seq > (records[index - 1] as ChainedAuditRecord).seq);
  return ordered ? records : records.sort((a, b) => a.seq - b.seq);
}

/**
 * The chain's records of one action and decision (the granted `access.issue` records: the
 * grants issued), in seq order after `afterSeq`; through the partial index of migration 0012
 * for issued grants, so a page costs the page and not the chain.
 */
export async function readRecordsOf(
  session: SqlSession,
  chain: string,
  filter: { readonly action: string; readonly decision: AuditDecision },
  afterSeq: number,
  limit: number,
): Promise<ChainedAuditRecord[]> {
  return readPage(session, "chain = $1 AND action = $2 AND decision = $3 AND seq > $4", "$5", [chain, filter.action, filter.decision, afterSeq, limit]);
}

/** What an auditor narrows a page of events to; every field is optional. */
export interface AuditEventFilter {
  readonly action?: string | undefined;
  readonly decision?: AuditDecision | undefined;
  /** A substring of the actor (`node:`, a subject, …). */
  readonly actor?: string | undefined;
  /** ISO 8601 instants, inclusive. */
  readonly since?: string | undefined;
  readonly until?: string | undefined;
}

/**
 * The records matching `filter` among afterSeq < seq <= afterSeq + window, at most `limit`, in
 * seq order. The window bounds the rows one request examines, however rare the matches: the
 * caller continues from the window's end (or the last match) with the next request.
 */
export async function readMatchingRecords(
  session: SqlSession,
  chain: string,
  filter: AuditEventFilter,
  afterSeq: number,
  window: number,
  limit: number,
): Promise<ChainedAuditRecord[]> {
  return readPage(
    session,
    `chain = $1 AND seq > $2 AND seq <= $2 + $3
       AND ($4::text IS NULL OR action = $4)
       AND ($5::text IS NULL OR decision = $5)
       AND ($6::text IS NULL OR strpos(actor, $6) > 0)
       AND ($7::timestamptz IS NULL OR at >= $7::timestamptz)
       AND ($8::timestamptz IS NULL OR at <= $8::timestamptz)`,
    "$9",
    [chain, afterSeq, window, filter.action ?? null, filter.decision ?? null, filter.actor ?? null, filter.since ?? null, filter.until ?? null, limit],
  );
}

/** The chain's newest seq (0 for an empty chain), through the index. */
export async function readHeadSeq(session: SqlSession, chain: string): Promise<number> {
  const [row] = await session.query<{ seq: number | string | null }>("SELECT max(seq) AS seq FROM audit_events WHERE chain = $1", [chain]);
  return row?.seq == null ? 0 : Number(row.seq);
}

/** The smallest seq after `afterSeq`, through the index (min/max never sorts). */
async function nextSeqAfter(session: SqlSession, chain: string, afterSeq: number): Promise<number | undefined> {
  const [row] = await session.query<{ seq: number | string | null }>(
    "SELECT min(seq) AS seq FROM audit_events WHERE chain = $1 AND seq > $2",
    [chain, afterSeq],
  );
  return row?.seq == null ? undefined : Number(row.seq);
}

/**
 * The whole chain in seq order, one bounded page in memory at a time; the next page is
 * already being fetched while the caller works through the current one. An empty window
 * (a gap) jumps to the next existing seq, so a forged huge seq cannot stall the walk.
 */
export async function* streamRecordPages(
  db: Database,
  chain: string,
  options: { afterSeq?: number; pageSize?: number } = {},
): AsyncGenerator<readonly ChainedAuditRecord[]> {
  for await (const text of streamRecordPageTexts(db, chain, options)) yield parsePage(text);
}

/**
 * The pages of streamRecordPages as the text the database sends, unparsed (parsePage turns
 * one into records): verification hands them to worker threads, which parse and hash while
 * this thread reads on. Never an empty text.
 */
export async function* streamRecordPageTexts(
  db: Database,
  chain: string,
  options: { afterSeq?: number; pageSize?: number } = {},
): AsyncGenerator<string> {
  const pageSize = options.pageSize ?? 2000;
  // The rows with from < seq <= from + pageSize. Bounding the range (not only LIMIT) keeps
  // every page cheap whatever the planner believes: on a freshly loaded table without
  // statistics PostgreSQL may pick a bitmap scan and sort everything after `from`, which
  // turns paging through a long chain quadratic.
  const fetchFrom = async (after: number): Promise<{ page: string; end: number } | undefined> => {
    for (let from = after; ; ) {
      const page = await readPageText(db, `chain = $1 AND seq > $2 AND seq <= $2 + $3`, "$3", [chain, from, pageSize]);
      if (page !== undefined) return { page, end: from + pageSize };
      const next = await nextSeqAfter(db, chain, from);
      if (next === undefined) return undefined;
      from = next - 1;
    }
  };
  let current = await fetchFrom(options.afterSeq ?? 0);
  while (current !== undefined) {
    const next = fetchFrom(current.end);
    // A prefetch that fails while the caller stops early must not become an unhandled rejection.
    next.catch(() => undefined);
    yield current.page;
    current = await next;
  }
}

/**
 * When each actor last read a secret: the newest granted `secret.read` record of each, as ISO
 * 8601 (an actor that never read is absent). One statement for all the actors, each answered by
 * one backward step of the partial index audit_events_granted_secret_reads (migration 0011);
 * the literals must match that index's predicate, so they are not parameters.
 */
export async function lastGrantedSecretReads(session: SqlSession, chain: string, actors: readonly string[]): Promise<Map<string, string>> {
  if (actors.length === 0) return new Map();
  const rows = await session.query<{ actor: string; at: string | null }>(
    `SELECT a.actor, (SELECT to_char(max(e.at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') FROM audit_events e
                       WHERE e.chain = $1 AND e.actor = a.actor AND e.action = 'secret.read' AND e.decision = 'granted') AS at
       FROM jsonb_array_elements_text($2::jsonb) AS a(actor)`,
    [chain, JSON.stringify(actors)],
  );
  return new Map(rows.flatMap((row) => (row.at === null ? [] : [[row.actor, row.at] as const])));
}

/**
 * The audit store's port: what the appenders, the reads, checkpoints and the CLI ask of the
 * audit tables. Each call takes the session or transaction it runs in, so an appender can
 * lock, read the head and insert inside one transaction. Written out (not inferred from the
 * adapter) so that the store contract suite is written against it.
 */
export interface AuditStore {
  /** True when the chain's row was there and its first statement took the lock. */
  lockChain(tx: SqlSession, chain: string, genesis: string, budgetMs?: number): Promise<boolean>;
  lockChainAndReadHead(tx: SqlSession, chain: string, genesis: string, budgetMs?: number): Promise<ChainHead | undefined>;
  ensureChain(session: SqlSession, chain: string, genesis: string): Promise<void>;
  readChainHead(session: SqlSession, chain: string): Promise<ChainHead | undefined>;
  insertRecords(tx: SqlSession, records: readonly ChainedAuditRecord[]): Promise<void>;
  recordStands(session: SqlSession, record: Pick<ChainedAuditRecord, "chain" | "seq" | "hash">): Promise<boolean>;
  insertCheckpoint(session: SqlSession, checkpoint: CheckpointRow): Promise<void>;
  readCheckpoints(session: SqlSession, chain: string): Promise<Record<string, unknown>[]>;
  readChainStatuses(session: SqlSession, onlyChain?: string): Promise<ChainCheckpointStatus[]>;
  tryTransactionLock(tx: SqlSession, key: number): Promise<boolean>;
  readSigningKeys(session: SqlSession): Promise<SigningKeyRow[]>;
  insertSigningKey(session: SqlSession, key: Omit<SigningKeyRow, "retiredAt">): Promise<void>;
  retireSigningKey(tx: SqlSession, keyId: string, at: string): Promise<boolean>;
  readRecords(session: SqlSession, chain: string, afterSeq: number, limit: number): Promise<ChainedAuditRecord[]>;
  lastGrantedSecretReads(session: SqlSession, chain: string, actors: readonly string[]): Promise<Map<string, string>>;
  readRecordsOf(
    session: SqlSession,
    chain: string,
    filter: { readonly action: string; readonly decision: AuditDecision },
    afterSeq: number,
    limit: number,
  ): Promise<ChainedAuditRecord[]>;
  streamRecordPages(
    db: Database,
    chain: string,
    options?: { afterSeq?: number; pageSize?: number },
  ): AsyncGenerator<readonly ChainedAuditRecord[]>;
}

/** The SQL adapter of the audit store port, for PostgreSQL and PGlite alike. */
export const sqlAuditStore: AuditStore = {
  lockChain,
  lockChainAndReadHead,
  ensureChain,
  readChainHead,
  insertRecords,
  recordStands,
  insertCheckpoint,
  readCheckpoints,
  readChainStatuses,
  tryTransactionLock,
  readSigningKeys,
  insertSigningKey,
  retireSigningKey,
  readRecords,
  lastGrantedSecretReads,
  readRecordsOf,
  streamRecordPages,
};
