/**
 * Wraps key material (domain signing keys, nodes' wrap_keys) so that the database only ever
 * holds ciphertext. OpenBao Transit in production; the local development backend otherwise.
 * `context` binds a ciphertext to its purpose and owner (e.g. `grant-key:acme:<kid>`): a
 * ciphertext moved to another row does not unwrap.
 */
export interface KeyWrapper {
  wrap(plaintext: Uint8Array, context: string): Promise<string>;
  /** Throws CustosError("secret_backend_unavailable") when the backend cannot answer. */
  unwrap(wrapped: string, context: string): Promise<Buffer>;
}
