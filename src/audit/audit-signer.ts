import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { KeyWrapper } from "../platform/key-wrapping/key-wrapper.ts";
import { publishFileExclusively } from "../platform/durable-files.ts";

/**
 * The Ed25519 audit key signs checkpoints and mirror manifests. It lives outside the
 * database, so that whoever can rewrite the database cannot also forge what was signed.
 */
export interface AuditSigner extends AuditKeyVerifier {
  readonly keyId: string;
  /** The public half, which the key registry publishes (audit-keys.ts). */
  readonly publicKey: KeyObject;
  sign(data: Buffer): Promise<Buffer>;
}

/**
 * Checks a signature by the key `keyId`; `signedAt` is the signed document's own time, which
 * a verifier that knows the keys' validity intervals (audit-jwks.ts) holds against them.
 */
export interface AuditKeyVerifier {
  verify(keyId: string, data: Buffer, signature: Buffer, signedAt?: string): Promise<boolean>;
}

/** A key id any holder of the public key can recompute: base64url SHA-256 of its SPKI DER. */
export function auditKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("base64url").slice(0, 22);
}

export function createKeyObjectSigner(privateKey: KeyObject): AuditSigner {
  const publicKey = createPublicKey(privateKey);
  const keyId = auditKeyId(publicKey);
  return {
    keyId,
    publicKey,
    sign: (data) => Promise.resolve(sign(null, data, privateKey)),
    verify: (claimedKeyId, data, signature) =>
      Promise.resolve(claimedKeyId === keyId && signature.length === 64 && verify(null, data, publicKey, signature)),
  };
}

export class AuditKeyError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AuditKeyError";
  }
}

// Exported for `custos backend rewrap`, which rewraps the file's key in place.
export const WRAPPED_PREFIX = "custos-audit-key/v1 wrapped:";
export const WRAPPING_CONTEXT = "custos/v1/audit-signing-key";

function fromPkcs8(der: Buffer, file: string): AuditSigner {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  } catch (error) {
    throw new AuditKeyError(`the audit key file ${file} does not hold a PKCS#8 private key`, { cause: error });
  } finally {
    der.fill(0);
  }
  if (key.asymmetricKeyType !== "ed25519") throw new AuditKeyError(`the audit key in ${file} is not an Ed25519 key`);
  return createKeyObjectSigner(key);
}

async function decodeKeyFile(text: string, file: string, wrapper: KeyWrapper | undefined): Promise<AuditSigner> {
  if (text.startsWith(WRAPPED_PREFIX)) {
    if (wrapper === undefined) throw new AuditKeyError(`the audit key in ${file} is wrapped by the secret backend, which is not available here`);
    return fromPkcs8(await wrapper.unwrap(text.slice(WRAPPED_PREFIX.length).trim(), WRAPPING_CONTEXT), file);
  }
  let der: Buffer;
  try {
    der = createPrivateKey(text).export({ type: "pkcs8", format: "der" });
  } catch (error) {
    throw new AuditKeyError(`the audit key file ${file} does not hold a PKCS#8 private key`, { cause: error });
  }
  return fromPkcs8(der, file);
}

/**
 * Loads the audit key at `file`, creating it (mode 0600) on first use. With a secret backend
 * the file holds the key only wrapped by it (OpenBao Transit in production): a copy of the
 * file, or of the whole host, cannot sign without the backend. A plain PKCS#8 PEM file (made
 * before the backend held the key, or provisioned by hand) is still read.
 */
export async function loadOrCreateAuditKeyFile(file: string, wrapper?: KeyWrapper): Promise<AuditSigner> {
  return (await loadAuditKey(file, wrapper, { create: true })).signer;
}

/** The same, saying whether the key was made just now (its validity then starts now). */
export async function loadOrCreateAuditKeyFileNoting(file: string, wrapper?: KeyWrapper): Promise<{ signer: AuditSigner; created: boolean }> {
  return loadAuditKey(file, wrapper, { create: true });
}

/**
 * Loads an existing audit key, never creating one: what verification needs, since a key made
 * on the spot could only fail to verify what the real key signed, and would confuse later runs.
 */
export async function loadAuditKeyFile(file: string, wrapper?: KeyWrapper): Promise<AuditSigner> {
  return (await loadAuditKey(file, wrapper, { create: false })).signer;
}

/** A new Ed25519 key as the key file holds it: wrapped by the backend when there is one. */
export async function newAuditKeyFileText(wrapper: KeyWrapper | undefined): Promise<{ text: string; signer: AuditSigner }> {
  const { privateKey } = generateKeyPairSync("ed25519");
  const der = privateKey.export({ type: "pkcs8", format: "der" });
  const text = wrapper === undefined
    ? privateKey.export({ type: "pkcs8", format: "pem" }).toString()
    : `${WRAPPED_PREFIX}${await wrapper.wrap(der, WRAPPING_CONTEXT)}\n`;
  der.fill(0);
  return { text, signer: createKeyObjectSigner(privateKey) };
}

async function loadAuditKey(file: string, wrapper: KeyWrapper | undefined, options: { create: boolean }): Promise<{ signer: AuditSigner; created: boolean }> {
  let text: string;
  let created = false;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT" || !options.create) {
      throw new AuditKeyError(`cannot read the audit key file ${file}`, { cause: error });
    }
    text = (await newAuditKeyFileText(wrapper)).text;
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    // Another process created it first: use theirs, so that both sign with one key.
    created = await publishFileExclusively(file, text);
    if (!created) text = await readFile(file, "utf8");
  }
  return { signer: await decodeKeyFile(text, file, wrapper), created };
}

