import { CustosError } from "../errors.ts";
import { sqlState } from "./database.ts";

/**
 * The one place that decides whether a database failure means "the store cannot answer now"
 * (503 store_unavailable, worth retrying) rather than a fault in Custos (500 internal).
 * Everything else about the error (SQL, the server's message) stays in the logs.
 */

/** SQLSTATEs of a store that is down, overloaded or bounded by a timeout. */
const UNAVAILABLE_SQLSTATES = new Set([
  "57014", // query_canceled: statement_timeout
  "55P03", // lock_not_available: lock_timeout
  "57P01", // admin_shutdown: the backend was terminated (pg_terminate_backend, restart)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now: starting up or shutting down
  "53300", // too_many_connections
  "25P03", // idle_in_transaction_session_timeout
  "40001", // serialization_failure: retry
  "40P01", // deadlock_detected: retry
]);

/** SQLSTATE classes wholly about reaching the store: 08 connection exception, 53 insufficient resources. */
const UNAVAILABLE_SQLSTATE_CLASSES = new Set(["08", "53"]);

/** postgres.js's own codes for a connection that is gone, and the socket errors beneath them. */
const UNAVAILABLE_DRIVER_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
]);

/** PGlite has no codes for these; its messages are all it says. */
const UNAVAILABLE_PGLITE_MESSAGES = ["PGlite is closed"];

/** At most this many causes are followed: a cause chain is data, not a promise of an end. */
const MAX_CAUSE_DEPTH = 5;

/** The string `code` an error carries (driver and socket errors both use it), if any. */
export function errorCodeOf(error: unknown): string | undefined {
  if (error === null || typeof error !== "object") return undefined;
  const code: unknown = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

/** Is this failure (or one of its causes: a wrapper may keep the driver error as its cause) the store being unavailable? */
export function isStoreUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH && current !== null && typeof current === "object"; depth += 1) {
    const state = sqlState(current);
    if (state !== undefined && (UNAVAILABLE_SQLSTATES.has(state) || UNAVAILABLE_SQLSTATE_CLASSES.has(state.slice(0, 2)))) return true;
    const code = errorCodeOf(current);
    if (code !== undefined && UNAVAILABLE_DRIVER_CODES.has(code)) return true;
    const message = current instanceof Error ? current.message : "";
    if (UNAVAILABLE_PGLITE_MESSAGES.some((prefix) => message.startsWith(prefix))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** The refusal for a store failure, or undefined when the failure is something else. */
export function storeUnavailableFrom(error: unknown): CustosError | undefined {
  if (!isStoreUnavailable(error)) return undefined;
  return new CustosError("store_unavailable", { detail: "the database did not answer in time or is unreachable; retry later", retryAfterSeconds: 1, cause: error });
}
