/**
 * Every refusal Custos makes carries one of these codes. They are part of the external
 * contract (DESIGN.md, "Errors"): never rename one once shipped. The HTTP layer maps each
 * code to a status and a title in exactly one place (src/http/problem-codes.ts).
 */
export type ErrorCode =
  | "malformed_body"
  | "payload_too_large"
  | "uri_too_long"
  | "unsupported_media_type"
  | "invalid_request"
  | "invalid_name"
  | "not_found"
  | "method_not_allowed"
  | "invalid_token"
  | "step_up_required"
  | "permission_denied"
  | "csrf_failed"
  | "node_mismatch"
  | "node_quarantined"
  | "rotation_proof_invalid"
  | "kid_superseded"
  | "node_decommissioned"
  | "rate_limited"
  | "event_stream_limit"
  | "not_provisioned"
  | "store_unavailable"
  | "authz_unavailable"
  | "provider_unavailable"
  | "audit_unavailable"
  | "secret_backend_unavailable"
  | "internal";

export interface CustosErrorOptions {
  /** Safe, client-facing explanation. Never a secret, a token, SQL or a backend message. */
  readonly detail?: string;
  /** When the client may try again (`Retry-After`), for refusals that are about load or a dependency. */
  readonly retryAfterSeconds?: number;
  /** The methods the path does allow (`Allow`), for `method_not_allowed`. */
  readonly allow?: readonly string[];
  /**
   * Extra members of the problem document (for example the values step-up requires). The
   * `WWW-Authenticate` challenge is built from the code and these at the edge
   * (src/http/challenges.ts), never carried here as a header.
   */
  readonly extensions?: Readonly<Record<string, unknown>>;
  /** The underlying failure, for logs only; it never reaches a client. */
  readonly cause?: unknown;
}

/** A refusal with a stable code. Anything thrown that is not a CustosError is `internal`. */
export class CustosError extends Error {
  readonly code: ErrorCode;
  readonly detail: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly allow: readonly string[] | undefined;
  readonly extensions: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, options: CustosErrorOptions = {}) {
    super(options.detail ?? code, { cause: options.cause });
    this.name = "CustosError";
    this.code = code;
    this.detail = options.detail;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.allow = options.allow;
    this.extensions = options.extensions ?? {};
  }
}

export function isCustosError(error: unknown): error is CustosError {
  return error instanceof CustosError;
}
