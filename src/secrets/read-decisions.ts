/**
 * Allowed secret reads, remembered so that a node reading the same secret again skips the
 * SpiceDB check (issue 18: the check was a quarter of a read's latency and a third of the
 * server's CPU).
 *
 * Safe because the key is everything the decision depends on. The schema gives
 * `secret#read = reader`: one relationship, `secret:<domain>/<name>#reader@node:<id>`. Every
 * change to a secret's readers (adding, revoking, deleting the secret) first clears the
 * secret's stored authorization revision and, once SpiceDB has the change, stores the new
 * one (secret-readers.ts, delete-secret.ts). The read path looks the revision up in the same
 * query as the bearer, so:
 *
 * * after a change has answered, every replica's next read carries the new revision and
 *   misses (the revoked reader is refused on its very next read, through any replica);
 * * while a change is under way, or if it failed half-way, the row has no revision, and
 *   nothing is looked up or remembered (the check asks SpiceDB, fully consistent).
 *
 * The node's own state is not in the key because authentication reads it on every request
 * (a quarantined or decommissioned node never reaches the check). Only allows are kept: a
 * refusal costs a check, never a stale grant. Entries also expire after TTL_MS, SpiceDB's own
 * default quantisation window, so a relationship changed behind Custos's back (zed against
 * the SpiceDB server) is not honoured for longer than SpiceDB's cache would honour it.
 */
export interface ReadDecisionKey {
  readonly nodeId: string;
  readonly domain: string;
  readonly name: string;
  /** The secret's stored authorization revision (a ZedToken) at the time of the read. */
  readonly authzRevision: string;
}

export interface ReadDecisions {
  /** True when this exact read was allowed at this revision less than TTL_MS ago. */
  allowed(key: ReadDecisionKey): boolean;
  /** Remembers an allow that SpiceDB answered at least as fresh as key.authzRevision. */
  rememberAllowed(key: ReadDecisionKey): void;
}

export const READ_DECISION_TTL_MS = 5_000;
const READ_DECISION_MAX_ENTRIES = 10_000;

function keyOf(key: ReadDecisionKey): string {
  // Node ids are UUIDs and secret names cannot hold NUL: the separator is unambiguous.
  return `${key.nodeId}\u0000${key.domain}\u0000${key.name}\u0000${key.authzRevision}`;
}

export function createReadDecisions(options: { ttlMs?: number; maxEntries?: number; now?: () => number } = {}): ReadDecisions {
  const ttlMs = options.ttlMs ?? READ_DECISION_TTL_MS;
  const maxEntries = options.maxEntries ?? READ_DECISION_MAX_ENTRIES;
  // Monotonic: a wall clock set back would stretch every entry's life.
  const now = options.now ?? (() => performance.now());
  // Insertion order is expiry order (every entry lives ttlMs), so the oldest is evicted first.
  const expiries = new Map<string, number>();
  return {
    allowed(key) {
      const id = keyOf(key);
      const expiry = expiries.get(id);
      if (expiry === undefined) return false;
      if (expiry > now()) return true;
      expiries.delete(id);
      return false;
    },
    rememberAllowed(key) {
      const id = keyOf(key);
      expiries.delete(id);
      if (expiries.size >= maxEntries) {
        const oldest = expiries.keys().next();
        if (oldest.done !== true) expiries.delete(oldest.value);
      }
      expiries.set(id, now() + ttlMs);
    },
  };
}
