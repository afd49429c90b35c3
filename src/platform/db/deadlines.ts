import { CustosError } from "../errors.ts";

/**
 * Bounds on every database call, so that a stuck store turns into a prompt 503
 * store_unavailable rather than requests that hang: each statement, each lock wait, each
 * connection attempt, and a transaction left idle. The audit path has its own, tighter bound
 * (CUSTOS_AUDIT_TIMEOUT_MS); migrations lift these for themselves.
 */
export const DATABASE_TIMEOUTS = {
  statementMs: 5_000,
  lockMs: 2_000,
  idleInTransactionMs: 10_000,
  connectSeconds: 5,
} as const;

/** A little longer than the server's own statement timeout, which answers first when it can. */
export const DEFAULT_QUERY_TIMEOUT_MS = DATABASE_TIMEOUTS.statementMs + 1000;

function storeUnavailable(detail: string, cause?: unknown): CustosError {
  return new CustosError("store_unavailable", { detail, retryAfterSeconds: 1, cause });
}

/** Settles with `work`, or rejects with store_unavailable once `ms` have passed. */
export async function withinDeadline<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => { reject(storeUnavailable(`the database did not answer within ${String(ms)} ms`)); }, ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
