import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * The Ed25519 audit key signs checkpoints and mirror manifests. It lives outside the
 * database, so that whoever can rewrite the database cannot also forge what was signed.
 */
export interface AuditSigner {
  readonly keyId: string;
  sign(data: Buffer): Promise<Buffer>;
  verify(keyId: string, data: Buffer, signature: Buffer): Promise<boolean>;
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

/**
 * Loads the PKCS#8 PEM key at `file`, creating it (mode 0600) on first use. Until the secret
 * backend holds the key, this file is the one to keep away from whoever administers the
 * database.
 */
export async function loadOrCreateAuditKeyFile(file: string): Promise<AuditSigner> {
  let pem: string;
  try {
    pem = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new AuditKeyError(`cannot read the audit key file ${file}`, { cause: error });
    }
    const { privateKey } = generateKeyPairSync("ed25519");
    pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      await writeFile(file, pem, { mode: 0o600, flag: "wx" });
    } catch (writeError) {
      // Another process created it first: use theirs, so that both sign with one key.
      if ((writeError as NodeJS.ErrnoException).code !== "EEXIST") throw writeError;
      pem = await readFile(file, "utf8");
    }
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new AuditKeyError(`the audit key file ${file} does not hold a PKCS#8 private key`, { cause: error });
  }
  if (key.asymmetricKeyType !== "ed25519") throw new AuditKeyError(`the audit key in ${file} is not an Ed25519 key`);
  return createKeyObjectSigner(key);
}
