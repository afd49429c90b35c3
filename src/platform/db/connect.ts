import { mkdirSync } from "node:fs";
import { PGlite, types as pgliteTypes } from "@electric-sql/pglite";
import postgres from "postgres";
import { CustosError } from "../errors.ts";
import { lockDataDirectory } from "./data-dir-lock.ts";
import { DATABASE_TIMEOUTS, DEFAULT_QUERY_TIMEOUT_MS, withinDeadline } from "./deadlines.ts";
import type { AdvisoryLock, Database, SqlStatement, SqlTransaction } from "./database.ts";

const INT8_OID = 20;

export interface PostgresOptions {
  readonly url: string;
  readonly maxConnections?: number;
  /** Tests shorten them; production uses DATABASE_TIMEOUTS. */
  readonly statementTimeoutMs?: number;
  readonly lockTimeoutMs?: number;
  /**
   * Bound on one query outside a transaction, from call to rows. A server that stops
   * answering without closing the connection, or a query the driver lost with its
   * connection, must come back as store_unavailable instead of holding a request forever.
   */
  readonly queryTimeoutMs?: number;
}

// timestamptz, date, time, timestamp, interval, timetz, timestamp[], timestamptz[].
const DATE_TIME_OIDS = [1184, 1082, 1083, 1114, 1182, 1185, 1115, 1231];
const JSON_OID = 114;
const JSONB_OID = 3802;

/**
 * The port's value shape on postgres.js, as PGlite gives it: date and time values cross as
 * the strings PostgreSQL writes (the audit chain hashes exact timestamps), and a json/jsonb
 * parameter is sent as the text the caller serialised, not serialised again into a JSON
 * string scalar.
 */
function passDateTimeAndJsonAsText(options: { parsers: Record<number, (value: string) => unknown>; serializers: Record<number, (value: unknown) => unknown> }): void {
  const asIs = <T>(value: T): T => value;
  for (const oid of DATE_TIME_OIDS) {
    options.parsers[oid] = asIs;
    options.serializers[oid] = asIs;
  }
  options.serializers[JSON_OID] = asIs;
  options.serializers[JSONB_OID] = asIs;
}

/** How long releasing an advisory lock waits for its session's answer. */
const UNLOCK_DEADLINE_MS = 2_000;

/**
 * True unless the error is a statement's own failure (severity ERROR), after which the session
 * lives on: FATAL and PANIC end it, and an error without a severity is the driver's (the
 * socket closed, the connection was destroyed).
 */
function isSessionLost(error: unknown): boolean {
  const severity = (error as { severity?: unknown } | null)?.severity;
  return severity !== "ERROR";
}

export function openPostgres(options: PostgresOptions): Database {
  const sql = postgres(options.url, {
    max: options.maxConnections ?? 10,
    onnotice: () => undefined,
    // Sequence numbers and counters are int8; they stay far below 2^53.
    types: { int8: { to: INT8_OID, from: [INT8_OID], serialize: String, parse: Number } },
    connect_timeout: DATABASE_TIMEOUTS.connectSeconds,
    // Sent as startup parameters: they hold for every statement on every connection.
    connection: {
      application_name: "custos",
      statement_timeout: options.statementTimeoutMs ?? DATABASE_TIMEOUTS.statementMs,
      lock_timeout: options.lockTimeoutMs ?? DATABASE_TIMEOUTS.lockMs,
      idle_in_transaction_session_timeout: DATABASE_TIMEOUTS.idleInTransactionMs,
    },
  });
  passDateTimeAndJsonAsText(sql.options);
  const queryTimeoutMs = options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  return {
    driver: "postgres",
    async query<Row>(text: string, params: readonly unknown[] = []) {
      // Parameterised statements are prepared once per connection (postgres.js keeps them by
      // text; the texts are the code's own constants). Unprepared, each would cost a Describe
      // round trip before its execution, and a parse and a plan on the server, on every call.
      // The driver re-prepares after a schema change by itself.
      const pending = sql.unsafe(text, params as never[], { prepare: params.length > 0 });
      // A late rejection after the deadline answered must not become an unhandled one.
      const settled = pending.then((rows) => rows as unknown as Row[]);
      settled.catch(() => undefined);
      return withinDeadline(queryTimeoutMs, settled);
    },
    async transaction<T>(work: (tx: SqlTransaction) => Promise<T>): Promise<T> {
      const result = await sql.begin(async (tx) =>
        work({
          async query<Row>(text: string, params: readonly unknown[] = []) {
            // Prepared like the pool's queries: an unprepared statement with parameters costs
            // postgres.js a Describe round trip of its own before it can be executed.
            return (await tx.unsafe(text, params as never[], { prepare: params.length > 0 })) as unknown as Row[];
          },
          async script(text: string) {
            await tx.unsafe(text).simple();
          },
        }),
      );
      return result as T;
    },
    async pipelinedTransaction(statements: readonly SqlStatement[], pipelineOptions: { readonly deadlineMs?: number } = {}) {
      const deadlineMs = pipelineOptions.deadlineMs ?? queryTimeoutMs;
      const started = performance.now();
      // A pool whose connections are all busy makes this wait too: within the same deadline,
      // and a connection that comes after it goes straight back.
      const reserving = sql.reserve();
      const reserved = await withinDeadline(deadlineMs, reserving).catch((error: unknown) => {
        void reserving.then((late) => { late.release(); }, () => undefined);
        throw error;
      });
      // Each query is sent as soon as it is made (execute), not when awaited: the driver
      // pipelines them on the reserved connection. BEGIN and COMMIT go as simple queries.
      const send = (statement: SqlStatement) => {
        const params = statement.params ?? [];
        return reserved.unsafe(statement.text, params as never[], { prepare: params.length > 0 }).execute();
      };
      const settled = Promise.allSettled([reserved.unsafe("BEGIN").execute(), ...statements.map(send), reserved.unsafe("COMMIT").execute()]);
      // The connection goes back to the pool once every answer is in, unless the session was
      // lost: the driver has taken a closed connection back already, and released a second
      // time it would sit dead among the open ones. A connection that closes while queries
      // wait in its reserved queue never settles them, so nothing is released then either.
      void settled.then((outcomes) => {
        if (!outcomes.some((outcome) => outcome.status === "rejected" && isSessionLost(outcome.reason))) reserved.release();
      });
      // The caller is answered by the deadline, whatever the session does after it.
      const outcomes = await withinDeadline(Math.max(1, deadlineMs - (performance.now() - started)), settled);
      // A failed statement aborts the transaction; the COMMIT after it answers ROLLBACK.
      const failure = outcomes.find((outcome) => outcome.status === "rejected");
      if (failure !== undefined) throw failure.reason;
      const commit = outcomes.at(-1);
      if (commit?.status !== "fulfilled" || (commit.value as { command?: string }).command !== "COMMIT") {
        throw new CustosError("store_unavailable", { detail: "the pipelined transaction did not commit" });
      }
      return outcomes.slice(1, -1).map((outcome) => (outcome.status === "fulfilled" ? [...(outcome.value as unknown as Record<string, unknown>[])] : []));
    },
    async holdAdvisoryLock(key: number, mode: "exclusive" | "shared" = "exclusive"): Promise<AdvisoryLock | undefined> {
      const suffix = mode === "shared" ? "_shared" : "";
      const reserved = await sql.reserve();
      try {
        const [row] = await reserved.unsafe<{ locked: boolean }[]>(`SELECT pg_try_advisory_lock${suffix}($1) AS locked`, [key]);
        if (row?.locked !== true) {
          reserved.release();
          return undefined;
        }
      } catch (error) {
        if (!isSessionLost(error)) reserved.release();
        throw error;
      }
      return {
        async release() {
          const unlocking = reserved.unsafe(`SELECT pg_advisory_unlock${suffix}($1)`, [key]).execute();
          // On a connection that was cut, the unlock is never answered: a stop must not wait
          // for it. A lost session released its lock with it, and is the driver's again already.
          const unlocked = await withinDeadline(UNLOCK_DEADLINE_MS, unlocking).then(() => undefined, (error: unknown) => error);
          if (unlocked === undefined || !isSessionLost(unlocked)) reserved.release();
        },
      };
    },
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}

export interface PgliteOptions {
  /** A directory for durable data; absent means in memory (tests). */
  readonly dataDir?: string;
}

export async function openPglite(options: PgliteOptions = {}): Promise<Database> {
  if (options.dataDir !== undefined) mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const lock = options.dataDir === undefined ? undefined : lockDataDirectory(options.dataDir);
  let client: PGlite;
  try {
    client = await PGlite.create(options.dataDir ?? "memory://", {
      parsers: { [INT8_OID]: (value: string) => Number(value), [pgliteTypes.TIMESTAMPTZ]: (value: string) => value },
    });
  } catch (error) {
    lock?.release();
    throw error;
  }
  return {
    driver: "pglite",
    async query<Row>(text: string, params: readonly unknown[] = []) {
      return (await client.query<Row>(text, params as unknown[])).rows;
    },
    async transaction<T>(work: (tx: SqlTransaction) => Promise<T>): Promise<T> {
      return client.transaction(async (tx) =>
        work({
          async query<Row>(text: string, params: readonly unknown[] = []) {
            return (await tx.query<Row>(text, params as unknown[])).rows;
          },
          async script(text: string) {
            await tx.exec(text);
          },
        }),
      );
    },
    async pipelinedTransaction(statements: readonly SqlStatement[]) {
      // One process, in memory: no round trips to save; one statement after another.
      return client.transaction(async (tx) => {
        const results: Record<string, unknown>[][] = [];
        for (const statement of statements) results.push((await tx.query<Record<string, unknown>>(statement.text, (statement.params ?? []) as unknown[])).rows);
        return results;
      });
    },
    holdAdvisoryLock(): Promise<AdvisoryLock | undefined> {
      return Promise.resolve({ release: () => Promise.resolve() });
    },
    async close() {
      try {
        await client.close();
      } finally {
        lock?.release();
      }
    },
  };
}

export interface DatabaseSettings {
  readonly databaseUrl: string | undefined;
  /** Where PGlite keeps its files when no server is configured; undefined means memory. */
  readonly pgliteDir: string | undefined;
}

/** PostgreSQL server when a URL is configured, embedded PGlite otherwise. */
export async function openDatabase(settings: DatabaseSettings): Promise<Database> {
  if (settings.databaseUrl !== undefined) return openPostgres({ url: settings.databaseUrl });
  return openPglite(settings.pgliteDir === undefined ? {} : { dataDir: settings.pgliteDir });
}
