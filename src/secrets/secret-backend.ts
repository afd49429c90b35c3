import type { ReadinessProbe } from "../platform/readiness.ts";
import type { KeyWrapper } from "../platform/key-wrapping/key-wrapper.ts";

/** What a write produced: the backend's version number for the new value (1, 2, 3, …). */
export interface WrittenSecret {
  readonly version: number;
}

/** The latest version of a secret. `value` is plaintext: it must reach no log, row or error. */
export interface StoredSecret {
  readonly value: Buffer;
  readonly version: number;
}

/**
 * The secret backend port: secret values (OpenBao KV v2 in production, the local development
 * backend otherwise) and key wrapping (OpenBao Transit, or the local key). Services depend on
 * this port only; the composition root picks the adapter (see open-secret-backend.ts).
 *
 * Errors, the same for every adapter:
 * - `invalid_name` when the domain id or secret name is not valid (DESIGN.md, "Names"); the
 *   name is checked before anything reaches the backend or the file system.
 * - `secret_backend_unavailable` for every failure of the backend itself: unreachable, sealed,
 *   permission denied, timed out, or an answer that does not have the documented shape. The
 *   detail is safe for a client; the cause (for logs) never carries a token or a value.
 * - `internal` from `unwrap` when the ciphertext does not authenticate under the context
 *   (tampered, moved to another row, or wrapped by another key): the backend answered, the
 *   ciphertext is bad, and retrying will not help.
 * A secret that does not exist is `undefined`, not an error.
 */
export interface SecretBackend extends KeyWrapper {
  /** Stores `value` as a new version of `<domain>/<name>`. */
  writeSecret(domain: string, name: string, value: Buffer): Promise<WrittenSecret>;
  /**
   * The latest version of `<domain>/<name>`, or, with `version`, that version (the one Custos
   * recorded when it wrote); undefined when there is none.
   */
  readSecret(domain: string, name: string, version?: number): Promise<StoredSecret | undefined>;
  /**
   * Destroys `<domain>/<name>` and every version of it, beyond recovery (OpenBao KV v2's
   * `DELETE metadata/<path>`, not a soft delete). Resolves the same whether or not the
   * secret existed, so a retried deletion whose answer was lost is not an error.
   */
  deleteSecret(domain: string, name: string): Promise<void>;
  /** For /readyz: resolves when the backend is reachable and unsealed. */
  readonly readiness: ReadinessProbe;
  /** Releases connections and key material; the backend is not used afterwards. */
  close(): Promise<void>;
}
