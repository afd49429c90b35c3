import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import type { JWK } from "jose";
import type { Database } from "../platform/db/database.ts";
import type { KeyWrapper } from "../secrets/key-wrapper.ts";

export interface ActiveGrantKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
}

export interface GrantSigningKeys {
  /** The domain's active key, created (and wrapped) on first use. */
  activeKey(domain: string): Promise<ActiveGrantKey>;
  /** A new active key; the previous one stays published for `publishRetiredForSeconds`. */
  rotate(domain: string): Promise<ActiveGrantKey>;
  /** Public keys a verifier may meet: the active one and those retired too recently to drop. */
  publicJwks(domain: string): Promise<{ keys: JWK[] }>;
}

export interface GrantSigningKeysOptions {
  readonly db: Database;
  readonly wrapper: KeyWrapper;
  /** The longest grant lifetime: a retired key is published at least this long after retiring. */
  readonly publishRetiredForSeconds: number;
}

function wrappingContext(domain: string, kid: string): string {
  return `custos/v1/grant-key:${domain}:${kid}`;
}

/**
 * Per-domain Ed25519 grant keys. Unwrapped private keys are cached in memory only, so the
 * secret backend is asked once per key and process, not once per grant.
 */
export function createGrantSigningKeys(options: GrantSigningKeysOptions): GrantSigningKeys {
  const { db, wrapper } = options;
  const unwrapped = new Map<string, ActiveGrantKey>();

  async function createKey(domain: string): Promise<void> {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const kid = randomBytes(12).toString("base64url");
    const der = privateKey.export({ type: "pkcs8", format: "der" });
    const wrapped = await wrapper.wrap(der, wrappingContext(domain, kid));
    der.fill(0);
    const jwk = { ...publicKey.export({ format: "jwk" }), kid, alg: "EdDSA", use: "sig" };
    // Another replica may have created the active key first; the unique index then keeps theirs.
    await db.query(
      `INSERT INTO grant_signing_keys (domain, kid, public_jwk, wrapped_private_key)
       VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT DO NOTHING`,
      [domain, kid, JSON.stringify(jwk), wrapped],
    );
  }

  async function loadActive(domain: string): Promise<ActiveGrantKey | undefined> {
    const [row] = await db.query<{ kid: string; wrapped_private_key: string }>(
      "SELECT kid, wrapped_private_key FROM grant_signing_keys WHERE domain = $1 AND retired_at IS NULL",
      [domain],
    );
    if (row === undefined) return undefined;
    const cacheKey = `${domain}\u0000${row.kid}`;
    const cached = unwrapped.get(cacheKey);
    if (cached !== undefined) return cached;
    const der = await wrapper.unwrap(row.wrapped_private_key, wrappingContext(domain, row.kid));
    const key = { kid: row.kid, privateKey: createPrivateKey({ key: der, format: "der", type: "pkcs8" }) };
    der.fill(0);
    unwrapped.set(cacheKey, key);
    return key;
  }

  async function activeKey(domain: string): Promise<ActiveGrantKey> {
    const existing = await loadActive(domain);
    if (existing !== undefined) return existing;
    await createKey(domain);
    const created = await loadActive(domain);
    if (created === undefined) throw new Error("the grant signing key could not be created");
    return created;
  }

  return {
    activeKey,

    async rotate(domain) {
      await db.transaction(async (tx) => {
        await tx.query("UPDATE grant_signing_keys SET retired_at = now() WHERE domain = $1 AND retired_at IS NULL", [domain]);
      });
      return activeKey(domain);
    },

    async publicJwks(domain) {
      const rows = await db.query<{ public_jwk: string }>(
        `SELECT public_jwk::text AS public_jwk FROM grant_signing_keys
          WHERE domain = $1 AND (retired_at IS NULL OR retired_at > now() - make_interval(secs => $2))
          ORDER BY created_at DESC`,
        [domain, options.publishRetiredForSeconds],
      );
      return { keys: rows.map((row) => JSON.parse(row.public_jwk) as JWK) };
    },
  };
}
