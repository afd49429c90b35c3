import type { JWK } from "jose";
import type { Database } from "../platform/db/database.ts";
import type { grantSigningKeysTable } from "./grant-signing-keys.table.ts";

type GrantSigningKeyRow = typeof grantSigningKeysTable.$inferSelect;

/** A domain's active key as stored: its kid and the private half, still wrapped. */
export type StoredActiveKey = Pick<GrantSigningKeyRow, "kid" | "wrappedPrivateKey">;

/** A new key to store: the private half already wrapped by the key-wrapper port. */
export interface NewGrantSigningKey {
  readonly domain: string;
  readonly kid: string;
  readonly publicJwk: JWK;
  readonly wrappedPrivateKey: string;
}

/** The grant signing keys' port: the rows behind GrantSigningKeys, no crypto. */
export interface GrantSigningKeyRepository {
  /**
   * Stores the key as the domain's active key. False, storing nothing, when the domain already
   * has an active key: the unique index on it keeps whichever replica stored first.
   */
  insertActive(key: NewGrantSigningKey): Promise<boolean>;
  findActive(domain: string): Promise<StoredActiveKey | undefined>;
  /** Retires the domain's active key, if any; it stays published (see publishedKeys). */
  retireActive(domain: string): Promise<void>;
  /** Public keys of the active key and of those retired less than `retiredWithinSeconds` ago, newest first. */
  publishedKeys(domain: string, retiredWithinSeconds: number): Promise<JWK[]>;
}

/** The SQL adapter, for PostgreSQL and PGlite alike; each query runs with the Database's deadline. */
export function createGrantSigningKeyRepository(db: Database): GrantSigningKeyRepository {
  return {
    async insertActive(key) {
      const stored = await db.query(
        `INSERT INTO grant_signing_keys (domain, kid, public_jwk, wrapped_private_key)
         VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT DO NOTHING RETURNING kid`,
        [key.domain, key.kid, JSON.stringify(key.publicJwk), key.wrappedPrivateKey],
      );
      return stored.length === 1;
    },

    async findActive(domain) {
      const [row] = await db.query<StoredActiveKey>(
        `SELECT kid, wrapped_private_key AS "wrappedPrivateKey" FROM grant_signing_keys
          WHERE domain = $1 AND retired_at IS NULL`,
        [domain],
      );
      return row;
    },

    async retireActive(domain) {
      await db.transaction(async (tx) => {
        await tx.query("UPDATE grant_signing_keys SET retired_at = now() WHERE domain = $1 AND retired_at IS NULL", [domain]);
      });
    },

    async publishedKeys(domain, retiredWithinSeconds) {
      // public_jwk as text: both drivers then hand back the same string to parse.
      const rows = await db.query<Record<"publicJwk", string>>(
        `SELECT public_jwk::text AS "publicJwk" FROM grant_signing_keys
          WHERE domain = $1 AND (retired_at IS NULL OR retired_at > now() - make_interval(secs => $2))
          ORDER BY created_at DESC`,
        [domain, retiredWithinSeconds],
      );
      return rows.map((row) => JSON.parse(row.publicJwk) as JWK);
    },
  };
}
