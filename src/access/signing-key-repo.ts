import type { JWK } from "jose";
import type { Database } from "../platform/db/database.ts";
import type { grantSigningKeysTable } from "./signing-keys.table.ts";

/** What a domain key signs: grants (migration 0004) or events to nodes (0014); each has its own table and kids. */
export type SigningKeyPurpose = "grant" | "event";

/** Each purpose's table: the same columns and rules, so that one adapter serves both. */
const SIGNING_KEY_TABLES: Readonly<Record<SigningKeyPurpose, string>> = { grant: "grant_signing_keys", event: "event_signing_keys" };

/** The table `custos backend rewrap` walks for a purpose. */
export function signingKeyTable(purpose: SigningKeyPurpose): string {
  return SIGNING_KEY_TABLES[purpose];
}

/** A public key as the domain JWKS publishes it: `custos_use` says what it signs. */
export type PublishedJwk = JWK & { readonly custos_use: SigningKeyPurpose };

/** Both purposes share one row shape (signing-keys.table.ts). */
type SigningKeyRow = typeof grantSigningKeysTable.$inferSelect;

/** A domain's active key as stored: its kid and the private half, still wrapped. */
export type StoredActiveKey = Pick<SigningKeyRow, "kid" | "wrappedPrivateKey">;

/** A new key to store: the private half already wrapped by the key-wrapper port. */
export interface NewSigningKey {
  readonly domain: string;
  readonly kid: string;
  readonly publicJwk: JWK;
  readonly wrappedPrivateKey: string;
}

/** The signing keys' port: the rows behind SigningKeys, no crypto. */
export interface SigningKeyRepository {
  /**
   * Stores the key as the domain's active key. False, storing nothing, when the domain already
   * has an active key: the unique index on it keeps whichever replica stored first.
   */
  insertActive(key: NewSigningKey): Promise<boolean>;
  findActive(domain: string): Promise<StoredActiveKey | undefined>;
  /** Retires the domain's active key, if any; it stays published (see publishedKeys). */
  retireActive(domain: string): Promise<void>;
  /** Public keys of the active key and of those retired less than `retiredWithinSeconds` ago, newest first. */
  publishedKeys(domain: string, retiredWithinSeconds: number): Promise<PublishedJwk[]>;
}

/**
 * The SQL adapter, for PostgreSQL and PGlite alike; each query runs with the Database's
 * deadline. The table name comes from the fixed map above, never from input.
 */
export function createSigningKeyRepository(db: Database, purpose: SigningKeyPurpose): SigningKeyRepository {
  const table = signingKeyTable(purpose);
  return {
    async insertActive(key) {
      const stored = await db.query(
        `INSERT INTO ${table} (domain, kid, public_jwk, wrapped_private_key)
         VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT DO NOTHING RETURNING kid`,
        [key.domain, key.kid, JSON.stringify(key.publicJwk), key.wrappedPrivateKey],
      );
      return stored.length === 1;
    },

    async findActive(domain) {
      const [row] = await db.query<StoredActiveKey>(
        `SELECT kid, wrapped_private_key AS "wrappedPrivateKey" FROM ${table}
          WHERE domain = $1 AND retired_at IS NULL`,
        [domain],
      );
      return row;
    },

    async retireActive(domain) {
      await db.transaction(async (tx) => {
        await tx.query(`UPDATE ${table} SET retired_at = now() WHERE domain = $1 AND retired_at IS NULL`, [domain]);
      });
    },

    async publishedKeys(domain, retiredWithinSeconds) {
      // public_jwk as text: both drivers then hand back the same string to parse. custos_use
      // is added here, not stored: grant keys stored before 0014 carry it too.
      const rows = await db.query<Record<"publicJwk", string>>(
        `SELECT public_jwk::text AS "publicJwk" FROM ${table}
          WHERE domain = $1 AND (retired_at IS NULL OR retired_at > now() - make_interval(secs => $2))
          ORDER BY created_at DESC`,
        [domain, retiredWithinSeconds],
      );
      return rows.map((row) => ({ ...(JSON.parse(row.publicJwk) as JWK), custos_use: purpose }));
    },
  };
}

/** The grant keys' repository (what the audit store's contract suite exercises). */
export function createGrantSigningKeyRepository(db: Database): SigningKeyRepository {
  return createSigningKeyRepository(db, "grant");
}
