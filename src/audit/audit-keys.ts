import { createPublicKey } from "node:crypto";
import { rm } from "node:fs/promises";
import type { Database, SqlSession } from "../platform/db/database.ts";
import { replaceFileAtomically } from "../platform/durable-files.ts";
import { CustosError } from "../platform/errors.ts";
import type { KeyWrapper } from "../platform/key-wrapping/key-wrapper.ts";
import { PLATFORM_CHAIN } from "../platform/names.ts";
import { appendInTransaction } from "./append-in-transaction.ts";
import { keysVerifier, publicJwkOf, type AuditJwks, type AuditKeyRecord } from "./audit-jwks.ts";
import {
  auditKeyId,
  loadAuditKeyFile,
  loadOrCreateAuditKeyFileNoting,
  newAuditKeyFileText,
  type AuditKeyVerifier,
  type AuditSigner,
} from "./audit-signer.ts";
import { insertSigningKey, readSigningKeys, retireSigningKey, type SigningKeyRow } from "./audit-store.ts";
import { auditResource, type Actor } from "./audit-vocabulary.ts";

/**
 * The audit keys as a deployment holds them: the private key of the active key in
 * CUSTOS_AUDIT_KEY_FILE (wrapped by the secret backend), and the public half of every key,
 * active and retired, with its validity interval, in `audit_signing_keys`, where every
 * replica reads them. Signing uses the file's key only while the table says it is the active
 * key; verifying uses the table's public keys only.
 */
export interface AuditKeyring extends AuditKeyVerifier {
  /**
   * The key to sign with now. Its `verify` knows every registered key, so a manifest signed
   * before a rotation still verifies. Refuses with 503 audit_unavailable when the key file
   * does not hold the active key (rotated by another process: the file is read again first).
   */
  signingKey(): Promise<AuditSigner>;
  /** The JWK set of every registered key (GET /v1/audit/keys). */
  publicJwks(): Promise<AuditJwks>;
}

export interface AuditKeyringOptions {
  readonly db: Database;
  readonly file: string;
  readonly wrapper?: KeyWrapper;
  /** Create the key file when missing (the server); the CLI's verifiers never create one. */
  readonly create?: boolean;
  readonly clock?: () => Date;
}

function recordOf(row: SigningKeyRow): AuditKeyRecord {
  const publicKey = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: String(row.publicJwk.x) }, format: "jwk" });
  return { keyId: row.keyId, publicKey, validFrom: row.validFrom, retiredAt: row.retiredAt };
}

/** The registered keys, as public keys with their intervals. */
export async function registeredAuditKeys(session: SqlSession): Promise<AuditKeyRecord[]> {
  return (await readSigningKeys(session)).map(recordOf);
}

function registrationOf(signer: AuditSigner, validFrom: string | null): Omit<SigningKeyRow, "retiredAt"> {
  const { kty, crv, x } = signer.publicKey.export({ format: "jwk" });
  return { keyId: signer.keyId, publicJwk: { kty, crv, x }, validFrom };
}

const NOT_ACTIVE =
  "the audit key file does not hold the active audit key (rotated elsewhere, or another deployment's file): " +
  "check CUSTOS_AUDIT_KEY_FILE, or restart after custos audit rotate-key";

export function createAuditKeyring(options: AuditKeyringOptions): AuditKeyring {
  const { db, file, wrapper } = options;
  const clock = options.clock ?? (() => new Date());
  let loaded: { signer: AuditSigner; created: boolean } | undefined;

  const load = async (): Promise<{ signer: AuditSigner; created: boolean }> =>
    options.create === true
      ? loadOrCreateAuditKeyFileNoting(file, wrapper)
      : { signer: await loadAuditKeyFile(file, wrapper), created: false };

  return {
    async signingKey() {
      loaded ??= await load();
      let keys = await registeredAuditKeys(db);
      let active = keys.find((key) => key.retiredAt === null);
      if (active !== undefined && active.keyId !== loaded.signer.keyId) {
        // Another process rotated the key: read the file again.
        loaded = { signer: await loadAuditKeyFile(file, wrapper), created: false };
      }
      if (active === undefined && !keys.some((key) => key.keyId === loaded?.signer.keyId)) {
        // The first key of this deployment (or one made before keys were registered: it may
        // have signed already, so its validity has no start).
        await insertSigningKey(db, registrationOf(loaded.signer, loaded.created ? clock().toISOString() : null));
        keys = await registeredAuditKeys(db);
        active = keys.find((key) => key.retiredAt === null);
      }
      if (active?.keyId !== loaded.signer.keyId) throw new CustosError("audit_unavailable", { detail: NOT_ACTIVE });
      const verifier = keysVerifier(keys);
      return { ...loaded.signer, verify: (keyId, data, signature, signedAt) => verifier.verify(keyId, data, signature, signedAt) };
    },
    async verify(keyId, data, signature, signedAt) {
      const verifier = keysVerifier(await registeredAuditKeys(db));
      return verifier.verify(keyId, data, signature, signedAt);
    },
    async publicJwks() {
      return { keys: (await registeredAuditKeys(db)).map(publicJwkOf) };
    },
  };
}

export interface RotateAuditKeyInput {
  readonly db: Database;
  readonly file: string;
  readonly wrapper?: KeyWrapper;
  readonly actor: Actor;
  readonly requestId: string;
  readonly clock?: () => Date;
}

export interface RotatedAuditKey {
  readonly retired_key_id: string;
  readonly key_id: string;
  readonly at: string;
}

/**
 * Replaces the active audit key: a new Ed25519 key takes over from now, the old one is
 * retired now and stays published (what it signed still verifies). Audited on the platform
 * chain in the same transaction as the change. The new key is written beside the key file
 * first and takes the file's place only once the transaction committed: a failed rotation
 * leaves the old key active and in place.
 */
export async function rotateAuditKey(input: RotateAuditKeyInput): Promise<RotatedAuditKey> {
  const { db, file, wrapper } = input;
  const clock = input.clock ?? (() => new Date());
  const current = await loadAuditKeyFile(file, wrapper);
  const next = await newAuditKeyFileText(wrapper);
  const pending = `${file}.next`;
  await replaceFileAtomically(pending, next.text);
  const at = clock();
  const rotated: RotatedAuditKey = { retired_key_id: current.keyId, key_id: next.signer.keyId, at: at.toISOString() };
  try {
    await db.transaction(async (tx) => {
      const keys = await readSigningKeys(tx);
      const active = keys.find((key) => key.retiredAt === null);
      if (active === undefined && !keys.some((key) => key.keyId === current.keyId)) {
        await insertSigningKey(tx, registrationOf(current, null));
      } else if (active?.keyId !== current.keyId) {
        throw new CustosError("invalid_request", { detail: NOT_ACTIVE });
      }
      await appendInTransaction(tx, {
        chain: PLATFORM_CHAIN,
        actor: input.actor,
        action: "audit.rotate_key",
        resource: auditResource.auditKey(current.keyId),
        decision: "granted",
        reason: "ok",
        requestId: input.requestId,
        details: { ...rotated },
      }, at);
      if (!(await retireSigningKey(tx, current.keyId, rotated.at))) {
        throw new CustosError("invalid_request", { detail: "the audit key was rotated meanwhile by another process" });
      }
      await insertSigningKey(tx, registrationOf(next.signer, rotated.at));
      const [nowActive] = (await readSigningKeys(tx)).filter((key) => key.retiredAt === null);
      if (nowActive?.keyId !== auditKeyId(next.signer.publicKey)) throw new CustosError("invalid_request", { detail: "the new audit key could not be registered" });
    });
  } catch (error) {
    await rm(pending, { force: true });
    throw error;
  }
  try {
    await replaceFileAtomically(file, next.text);
  } catch (error) {
    throw new Error(`the new audit key is registered, but ${file} could not be replaced: move ${pending} into its place`, { cause: error });
  }
  await rm(pending, { force: true });
  return rotated;
}
