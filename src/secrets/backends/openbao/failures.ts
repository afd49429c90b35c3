import { z } from "zod";
import { CustosError } from "../../../platform/errors.ts";
import { SecretBackendFailure } from "../../backend-errors.ts";

/**
 * How an OpenBao call failed, named from safe facts only (status, the server's short error
 * text, an error code), which failures are retried and how long to wait, and which Transit
 * refusals are the ciphertext's fault rather than the key's state.
 */

/** The error shape node-vault rejects with for a non-2xx answer (ApiResponseError). */
const apiResponseError = z.object({
  response: z.object({
    statusCode: z.number(),
    body: z.unknown(),
  }),
});
const errorsBody = z.object({ errors: z.array(z.unknown()) });

function backendErrors(body: unknown): string[] | undefined {
  const parsed = errorsBody.safeParse(body);
  if (!parsed.success) return undefined;
  return parsed.data.errors.filter((entry): entry is string => typeof entry === "string");
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
function retryAfterMs(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The failure an answer names. Retry-After arrives separately (withRetryAfter): node-vault drops headers. */
function classifyStatus(status: number, body: unknown): SecretBackendFailure {
  const errors = backendErrors(body);
  const said = errors?.[0] ?? `status ${status}`;
  // KV v2 answers a missing secret (or a deleted latest version) with 404 and no error text;
  // a 404 *with* text is "no handler for route": a wrong mount, which is a misconfiguration.
  if (status === 404 && (errors === undefined || errors.length === 0)) {
    return new SecretBackendFailure("not_found", "not found", status);
  }
  if (status === 429) return new SecretBackendFailure("rate_limited", said, status);
  // A standby that cannot forward: 500 "local node not active but active cluster node not
  // found" (internal/http/handler.go forwardRequest), 503 "no active Vault instance found" or
  // "node is not active" (respondStandby).
  if ((status === 500 || status === 503) && /active cluster node not found|no active vault instance|node is not active/i.test(said)) {
    return new SecretBackendFailure("no_active_node", said, status);
  }
  if (status === 503) {
    // Each 503 named for what it is: only "sealed" is sealed.
    if (/sealed/i.test(said)) return new SecretBackendFailure("sealed", said, status);
    if (/rate limit|quota/i.test(said)) return new SecretBackendFailure("rate_limited", said, status);
    return new SecretBackendFailure("server_error", said, status);
  }
  if (status === 500 || status === 502 || status === 504) return new SecretBackendFailure("server_error", said, status);
  if (status === 403) return new SecretBackendFailure("permission_denied", said, status);
  if (status === 400 && /check-and-set/.test(said)) return new SecretBackendFailure("conflict", said, status);
  return new SecretBackendFailure("rejected", said, status);
}

export function withRetryAfter(failure: SecretBackendFailure, header: string): SecretBackendFailure {
  const delay = retryAfterMs(header);
  if (delay === undefined || (failure.kind !== "rate_limited" && failure.kind !== "server_error")) return failure;
  return new SecretBackendFailure(failure.kind, failure.message, failure.status, delay);
}

/** Failures a later attempt may not meet. A timeout is not: the attempt used the deadline. */
const RETRYABLE = new Set(["rate_limited", "server_error", "no_active_node", "unreachable"]);
const MAX_ATTEMPTS = 4;
const BACKOFF_BASE_MS = 50;
/** No attempt is started with less time than this before the deadline. */
const MIN_ATTEMPT_MS = 50;

/**
 * Waits before the next attempt, with full-jitter exponential backoff and at least the
 * failure's Retry-After; throws `error` instead when the failure is not retryable, the
 * attempts are used up, or the wait would not leave time for another attempt (then the
 * failure is named honestly rather than as a timeout).
 */
export async function waitBeforeRetry(failure: SecretBackendFailure, error: unknown, attempt: number, deadline: number): Promise<void> {
  if (!RETRYABLE.has(failure.kind) || attempt >= MAX_ATTEMPTS) throw error;
  const backoff = Math.random() * BACKOFF_BASE_MS * 2 ** attempt;
  const delay = Math.max(backoff, failure.retryAfterMs ?? 0);
  if (Date.now() + delay + MIN_ATTEMPT_MS > deadline) throw error;
  await new Promise((resolve) => setTimeout(resolve, delay));
}

/** Turns whatever node-vault or the transport threw into a SecretBackendFailure holding safe facts only. */
export function classify(error: unknown): SecretBackendFailure {
  if (error instanceof SecretBackendFailure) return error;
  // Authentication failed before the call was sent: its cause says how.
  if (error instanceof CustosError && error.cause instanceof SecretBackendFailure) return error.cause;
  const answered = apiResponseError.safeParse(error);
  if (answered.success) return classifyStatus(answered.data.response.statusCode, answered.data.response.body);
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
  if (code === "ECONNABORTED" || code === "ETIMEDOUT") {
    return new SecretBackendFailure("timeout", "the request timed out");
  }
  // Only the error code: axios's message may quote the URL, its config the token and body.
  return new SecretBackendFailure("unreachable", code === "" ? "the request failed" : `the request failed (${code})`);
}

/**
 * Transit decrypt answers 400 for a bad ciphertext and for operator-side states alike. Only
 * these say the ciphertext itself is bad (tampered, truncated, not a Transit ciphertext); a
 * version below min_decryption_version ("too old"), above the key's latest ("too new"), a
 * missing or soft-deleted key, a key that lost derivation: those are the backend's state,
 * fixed by an operator, and must not read as tampering.
 */
const CIPHERTEXT_AT_FAULT = [
  /message authentication failed/,
  /^invalid ciphertext: (no prefix|wrong number of fields|could not decode base64|version number could not be decoded|unable to decrypt)/,
];

export function decryptRefusalIsTampering(message: string): boolean {
  return CIPHERTEXT_AT_FAULT.some((pattern) => pattern.test(message)) && !/too (old|new)/.test(message);
}

export function withDeadline<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new SecretBackendFailure("timeout", `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  return Promise.race([work, deadline]).finally(() => {
    clearTimeout(timer);
  });
}
