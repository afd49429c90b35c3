import { CustosError } from "../platform/errors.ts";

/** How a backend call failed, for logs and for the adapters' own decisions. */
export type BackendFailureKind =
  | "timeout"
  | "unreachable"
  | "not_found"
  | "sealed"
  /** A standby that cannot reach an active node (503 "active cluster node not found"). */
  | "no_active_node"
  /** 429, or a 503 that says it is rate limiting. */
  | "rate_limited"
  /** 500, 502, 504, or a 503 that names no other cause. */
  | "server_error"
  /** A KV check-and-set that did not match: another write came first. */
  | "conflict"
  | "permission_denied"
  | "rejected"
  | "malformed_answer"
  | "storage";

/**
 * The cause attached to a backend refusal. It is built fresh from a few safe facts (kind,
 * HTTP status, the backend's short error text) instead of keeping the HTTP client's error:
 * that one carries the request — the X-Vault-Token header and, for Transit, the plaintext —
 * and a logger serialising the cause would write them out.
 */
export class SecretBackendFailure extends Error {
  readonly kind: BackendFailureKind;
  readonly status: number | undefined;
  /** From a Retry-After header, when the backend sent one. */
  readonly retryAfterMs: number | undefined;

  constructor(kind: BackendFailureKind, summary: string, status?: number, retryAfterMs?: number) {
    super(summary.slice(0, 300));
    this.name = "SecretBackendFailure";
    this.kind = kind;
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** `secret_backend_unavailable`, naming the operation that could not be done, never a value. */
export function backendUnavailable(operation: string, cause: SecretBackendFailure): CustosError {
  return new CustosError("secret_backend_unavailable", {
    detail: `the secret backend could not ${operation}`,
    cause,
  });
}

/**
 * A wrapped value that does not unwrap under its context: tampered, moved, or from another
 * key. Not "unavailable" (the backend answered), and not something a retry would fix.
 */
export function unwrapRejected(cause: SecretBackendFailure): CustosError {
  return new CustosError("internal", {
    detail: "wrapped key material did not unwrap under its context",
    cause,
  });
}
