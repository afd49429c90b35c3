/** A connection (or transaction) that runs parameterised SQL and returns rows. */
export interface SqlSession {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
}

/** Inside a transaction, multi-statement scripts can run too (migrations need them). */
export interface SqlTransaction extends SqlSession {
  script(text: string): Promise<void>;
}

/** One statement of a pipelined transaction. */
export interface SqlStatement {
  readonly text: string;
  readonly params?: readonly unknown[];
}

/**
 * The relational store, PostgreSQL server or embedded PGlite behind one port. Values cross
 * it in one shape whichever driver is used: int8 as number, timestamps as strings; callers
 * that need an exact timestamp format select it with to_char.
 */
export interface Database extends SqlSession {
  readonly driver: "postgres" | "pglite";
  transaction<T>(work: (tx: SqlTransaction) => Promise<T>): Promise<T>;
  /**
   * The statements as one transaction, sent back to back with BEGIN and COMMIT without
   * waiting for each answer: one round trip where `transaction` takes one per statement plus
   * two. For work whose statements do not depend on each other's results. All or nothing:
   * when any statement fails the server rolls the transaction back, and this rejects with the
   * first failure. Resolves with each statement's rows. Rejects with store_unavailable when
   * the answers have not all come within `deadlineMs` (by default the query deadline): give
   * the statements server-side timeouts shorter than that.
   */
  pipelinedTransaction(statements: readonly SqlStatement[], options?: { readonly deadlineMs?: number }): Promise<Record<string, unknown>[][]>;
  /**
   * A session-level advisory lock on a connection kept for it until released, or undefined
   * at once when another session holds it in a conflicting mode (`shared` holders exclude only
   * an `exclusive` one). PGlite serves a single process: always granted.
   */
  holdAdvisoryLock(key: number, mode?: "exclusive" | "shared"): Promise<AdvisoryLock | undefined>;
  close(): Promise<void>;
}

export interface AdvisoryLock {
  release(): Promise<void>;
}

/** The SQLSTATE of a driver error, if it carries one (both drivers put it in `code`). */
export function sqlState(error: unknown): string | undefined {
  if (error !== null && typeof error === "object" && "code" in error) {
    const code = (error).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/** SQLSTATE 0A000, feature_not_supported: what Custos raises to refuse an operation. */
export const SQLSTATE_REFUSED = "0A000";
