import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import type { JWK } from "jose";
import type { Database } from "../platform/db/database.ts";
import { CustosError } from "../platform/errors.ts";
import type { KeyWrapper } from "../platform/key-wrapping/key-wrapper.ts";
import { createGrantSigningKeyRepository, type GrantSigningKeyRepository } from "./grant-signing-key-repo.ts";

export interface ActiveGrantKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
}

/** The key a grant is about to be signed with; see GrantSigningKeys.prepareActiveKey. */
export interface PreparedGrantKey extends ActiveGrantKey {
  /**
   * Stores the key if it is new and resolves to it. Refuses with 503 store_unavailable, and
   * signs nothing, if another replica stored the domain's first key meanwhile: the kid
   * already audited would not be the kid that signs.
   */
  commit(): Promise<ActiveGrantKey>;
}

export interface GrantSigningKeys {
  /** The domain's active key, created (and wrapped) on first use. */
  activeKey(domain: string): Promise<ActiveGrantKey>;
  /**
   * The key the next grant will be signed with, changing nothing yet: the active key, or —
   * for a domain's first grant — a new key generated and wrapped but not stored. Lets a grant
   * be audited, with its kid, before the key table changes (an audit failure then leaves no
   * key behind), while a backend that cannot unwrap still refuses before the audit.
   */
  prepareActiveKey(domain: string): Promise<PreparedGrantKey>;
  /** A new active key; the previous one stays published for `publishRetiredForSeconds`. */
  rotate(domain: string): Promise<ActiveGrantKey>;
  /** Public keys a verifier may meet: the active one and those retired too recently to drop. */
  publicJwks(domain: string): Promise<{ keys: JWK[] }>;
}

export interface GrantSigningKeysOptions {
  readonly db: Database;
  /** Where the keys are kept; by default the SQL repository on `db`. */
  readonly repository?: GrantSigningKeyRepository;
  readonly wrapper: KeyWrapper;
  /** The longest grant lifetime: a retired key is published at least this long after retiring. */
  readonly publishRetiredForSeconds: number;
}

/** Exported for `custos backend rewrap`, which rewraps each stored key under its own context. */
export function wrappingContext(domain: string, kid: string): string {
  return `custos/v1/grant-key:${domain}:${kid}`;
}

/**
 * Per-domain Ed25519 grant keys. Unwrapped private keys are cached in memory only, so the
 * secret backend is asked once per key and process, not once per grant.
 */
export function createGrantSigningKeys(options: GrantSigningKeysOptions): GrantSigningKeys {
  const { wrapper } = options;
  const keys = options.repository ?? createGrantSigningKeyRepository(options.db);
  const unwrapped = new Map<string, ActiveGrantKey>();

  interface GeneratedKey extends ActiveGrantKey {
    readonly publicJwk: JWK;
    readonly wrapped: string;
  }

  async function generateKey(domain: string): Promise<GeneratedKey> {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const kid = randomBytes(12).toString("base64url");
    const der = privateKey.export({ type: "pkcs8", format: "der" });
    const wrapped = await wrapper.wrap(der, wrappingContext(domain, kid));
    der.fill(0);
    return { kid, privateKey, wrapped, publicJwk: { ...publicKey.export({ format: "jwk" }), kid, alg: "EdDSA", use: "sig" } };
  }

  /** True when stored; false when the domain already had an active key (another replica's). */
  async function storeKey(domain: string, key: GeneratedKey): Promise<boolean> {
    return keys.insertActive({ domain, kid: key.kid, publicJwk: key.publicJwk, wrappedPrivateKey: key.wrapped });
  }

  async function createKey(domain: string): Promise<void> {
    await storeKey(domain, await generateKey(domain));
  }

  async function loadActive(domain: string): Promise<ActiveGrantKey | undefined> {
    const row = await keys.findActive(domain);
    if (row === undefined) return undefined;
    const cacheKey = `${domain}\u0000${row.kid}`;
    const cached = unwrapped.get(cacheKey);
    if (cached !== undefined) return cached;
    const der = await wrapper.unwrap(row.wrappedPrivateKey, wrappingContext(domain, row.kid));
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

    async prepareActiveKey(domain) {
      const existing = await loadActive(domain);
      if (existing !== undefined) return { ...existing, commit: () => Promise.resolve(existing) };
      const generated = await generateKey(domain);
      return {
        kid: generated.kid,
        privateKey: generated.privateKey,
        async commit() {
          if (!(await storeKey(domain, generated))) {
            throw new CustosError("store_unavailable", { detail: "the domain's first grant key was created concurrently; retry" });
          }
          const key = { kid: generated.kid, privateKey: generated.privateKey };
          unwrapped.set(`${domain}\u0000${key.kid}`, key);
          return key;
        },
      };
    },

    async rotate(domain) {
      await keys.retireActive(domain);
      return activeKey(domain);
    },

    async publicJwks(domain) {
      return { keys: await keys.publishedKeys(domain, options.publishRetiredForSeconds) };
    },
  };
}
