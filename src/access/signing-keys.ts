import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import type { JWK } from "jose";
import type { Database } from "../platform/db/database.ts";
import { CustosError } from "../platform/errors.ts";
import type { KeyWrapper } from "../platform/key-wrapping/key-wrapper.ts";
import { createSigningKeyRepository, type PublishedJwk, type SigningKeyPurpose, type SigningKeyRepository } from "./signing-key-repo.ts";

export type { PublishedJwk, SigningKeyPurpose } from "./signing-key-repo.ts";

export interface ActiveSigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
}

/** The key a grant (or event) is about to be signed with; see SigningKeys.prepareActiveKey. */
export interface PreparedSigningKey extends ActiveSigningKey {
  /**
   * Stores the key if it is new and resolves to it. Refuses with 503 store_unavailable, and
   * signs nothing, if another replica stored the domain's first key meanwhile: the kid
   * already audited would not be the kid that signs.
   */
  commit(): Promise<ActiveSigningKey>;
}

export interface SigningKeys {
  readonly purpose: SigningKeyPurpose;
  /** The domain's active key, created (and wrapped) on first use. */
  activeKey(domain: string): Promise<ActiveSigningKey>;
  /**
   * The key the next grant will be signed with, changing nothing yet: the active key, or —
   * for a domain's first grant — a new key generated and wrapped but not stored. Lets a grant
   * be audited, with its kid, before the key table changes (an audit failure then leaves no
   * key behind), while a backend that cannot unwrap still refuses before the audit.
   */
  prepareActiveKey(domain: string): Promise<PreparedSigningKey>;
  /** A new active key; the previous one stays published for `publishRetiredForSeconds`. */
  rotate(domain: string): Promise<ActiveSigningKey>;
  /**
   * Public keys a verifier may meet: the active one and those retired too recently to drop,
   * each with `custos_use` saying what it signs (a verifier of events uses only `event` keys).
   */
  publicJwks(domain: string): Promise<{ keys: PublishedJwk[] }>;
}

/** Grant signing keys: what the existing grant code calls by its old name. */
export type GrantSigningKeys = SigningKeys;

export interface SigningKeysOptions {
  readonly db: Database;
  /** Where the keys are kept; by default the SQL repository on `db` for `purpose`. */
  readonly repository?: SigningKeyRepository;
  readonly wrapper: KeyWrapper;
  /**
   * How long a retired key stays published: at least as long as what it signed can still be
   * presented (the longest grant lifetime; for events, as long as the bus may replay them).
   */
  readonly publishRetiredForSeconds: number;
}

/**
 * Exported for `custos backend rewrap`, which rewraps each stored key under its own context:
 * `custos/v1/grant-key:<domain>:<kid>` or `custos/v1/event-key:<domain>:<kid>`. The purpose is
 * in the context, so a grant key's ciphertext cannot be unwrapped as an event key's.
 */
export function signingKeyContext(purpose: SigningKeyPurpose, domain: string, kid: string): string {
  return `custos/v1/${purpose}-key:${domain}:${kid}`;
}

/**
 * Per-domain Ed25519 signing keys for one purpose (grants, events), each purpose in its own
 * table with its own kids. Unwrapped private keys are cached in memory only, so the secret
 * backend is asked once per key and process, not once per signature.
 */
export function createSigningKeys(options: SigningKeysOptions & { readonly purpose: SigningKeyPurpose }): SigningKeys {
  const { wrapper, purpose } = options;
  const keys = options.repository ?? createSigningKeyRepository(options.db, purpose);
  const wrappingContext = (domain: string, kid: string): string => signingKeyContext(purpose, domain, kid);
  const unwrapped = new Map<string, ActiveSigningKey>();

  interface GeneratedKey extends ActiveSigningKey {
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

  async function loadActive(domain: string): Promise<ActiveSigningKey | undefined> {
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

  async function activeKey(domain: string): Promise<ActiveSigningKey> {
    const existing = await loadActive(domain);
    if (existing !== undefined) return existing;
    await createKey(domain);
    const created = await loadActive(domain);
    if (created === undefined) throw new Error(`the ${purpose} signing key could not be created`);
    return created;
  }

  return {
    purpose,
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
            throw new CustosError("store_unavailable", { detail: `the domain's first ${purpose} key was created concurrently; retry` });
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

/** The domain's grant keys (table grant_signing_keys). */
export function createGrantSigningKeys(options: SigningKeysOptions): SigningKeys {
  return createSigningKeys({ ...options, purpose: "grant" });
}
