/**
 * What the secret verbs announce to nodes, once their change has committed (the events port:
 * src/events implements it, signed and audited). Each call resolves whether or not the event
 * went out: a publish that fails is logged and counted there, and never undoes the change,
 * since an agent fetches every secret again whenever it reconnects.
 */
export interface SecretEvents {
  /** A new version to each reader, or an existing version to a node just made a reader: `secret.updated`. */
  secretUpdated(announcement: { readonly domain: string; readonly name: string; readonly version: number; readonly nodeIds: readonly string[]; readonly requestId: string }): Promise<void>;
  /** To nodes that lost read access (removed, or the secret deleted): `secret.revoked`. */
  secretRevoked(announcement: { readonly domain: string; readonly name: string; readonly nodeIds: readonly string[]; readonly requestId: string }): Promise<void>;
}
