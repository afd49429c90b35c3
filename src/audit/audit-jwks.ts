import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { auditKeyId, type AuditKeyVerifier } from "./audit-signer.ts";

/**
 * The public audit keys as a JWK set (RFC 7517): what GET /v1/audit/keys serves and what
 * `custos audit verify --keys` reads. Verifying with it needs no database, no secret backend
 * and no private key (docs/audit-format.md, "Keys").
 */
export interface AuditPublicJwk {
  readonly kty: "OKP";
  readonly crv: "Ed25519";
  /** base64url of the 32-byte public key. */
  readonly x: string;
  /** The key id checkpoints and manifests carry: base64url SHA-256 of the SPKI DER, 22 characters. */
  readonly kid: string;
  readonly alg: "EdDSA";
  readonly use: "sig";
  readonly status: "active" | "retired";
  /** From when the key signs (ISO 8601 UTC); absent for a key that signed before keys were registered. */
  readonly valid_from?: string;
  /** When the key was retired; absent while it is the active key. */
  readonly valid_until?: string;
}

export interface AuditJwks {
  readonly keys: readonly AuditPublicJwk[];
}

/** One registered key, as the store keeps it. */
export interface AuditKeyRecord {
  readonly keyId: string;
  readonly publicKey: KeyObject;
  readonly validFrom: string | null;
  readonly retiredAt: string | null;
}

export function publicJwkOf(key: AuditKeyRecord): AuditPublicJwk {
  const { x } = key.publicKey.export({ format: "jwk" });
  if (typeof x !== "string") throw new TypeError("not an Ed25519 public key");
  return {
    kty: "OKP",
    crv: "Ed25519",
    x,
    kid: key.keyId,
    alg: "EdDSA",
    use: "sig",
    status: key.retiredAt === null ? "active" : "retired",
    ...(key.validFrom === null ? {} : { valid_from: key.validFrom }),
    ...(key.retiredAt === null ? {} : { valid_until: key.retiredAt }),
  };
}

export class AuditJwksError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuditJwksError";
  }
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

function instant(value: unknown, member: string, kid: string): string | null {
  if (value === undefined) return null;
  if (typeof value !== "string" || !ISO_INSTANT.test(value) || Number.isNaN(Date.parse(value))) {
    throw new AuditJwksError(`key ${kid}: ${member} is not an ISO 8601 UTC instant`);
  }
  return value;
}

/**
 * Reads a JWK set an auditor was given. Every key must be an Ed25519 public key whose `kid`
 * is the id derived from it: a kid that does not match its key is refused, so a JWKS cannot
 * make one key answer for another's signatures. Members other than these are ignored.
 */
export function parseAuditJwks(value: unknown): AuditKeyRecord[] {
  if (value === null || typeof value !== "object" || !Array.isArray((value as { keys?: unknown }).keys)) {
    throw new AuditJwksError("a JWK set is a JSON object with a keys array");
  }
  return ((value as { keys: unknown[] }).keys).map((entry, index) => {
    if (entry === null || typeof entry !== "object") throw new AuditJwksError(`keys[${String(index)}] is not an object`);
    const jwk = entry as Record<string, unknown>;
    const kid = typeof jwk.kid === "string" ? jwk.kid : `keys[${String(index)}]`;
    if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string" || !BASE64URL.test(jwk.x) || "d" in jwk) {
      throw new AuditJwksError(`key ${kid} is not an Ed25519 public key (kty OKP, crv Ed25519, x, and no d)`);
    }
    if (jwk.alg !== undefined && jwk.alg !== "EdDSA") throw new AuditJwksError(`key ${kid}: alg must be EdDSA`);
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk.x }, format: "jwk" });
    } catch {
      throw new AuditJwksError(`key ${kid}: x is not an Ed25519 public key`);
    }
    const keyId = auditKeyId(publicKey);
    if (jwk.kid !== keyId) throw new AuditJwksError(`key ${kid}: kid is not the key's id (${keyId})`);
    return { keyId, publicKey, validFrom: instant(jwk.valid_from, "valid_from", kid), retiredAt: instant(jwk.valid_until, "valid_until", kid) };
  });
}

/** Whether `signedAt` falls in the key's validity interval (bounds inclusive; an absent bound is open). */
export function withinValidity(key: Pick<AuditKeyRecord, "validFrom" | "retiredAt">, signedAt: string | undefined): boolean {
  if (key.validFrom === null && key.retiredAt === null) return true;
  const at = signedAt === undefined ? Number.NaN : Date.parse(signedAt);
  if (Number.isNaN(at)) return false;
  if (key.validFrom !== null && at < Date.parse(key.validFrom)) return false;
  if (key.retiredAt !== null && at > Date.parse(key.retiredAt)) return false;
  return true;
}

/**
 * Verifies with public keys only: the signature must be by the key the document names, made
 * (by the document's own time) while that key was valid.
 */
export function keysVerifier(keys: readonly AuditKeyRecord[]): AuditKeyVerifier {
  const byId = new Map(keys.map((key) => [key.keyId, key]));
  return {
    verify: (keyId, data, signature, signedAt) => {
      const key = byId.get(keyId);
      return Promise.resolve(
        key !== undefined && signature.length === 64 && withinValidity(key, signedAt) && verify(null, data, key.publicKey, signature),
      );
    },
  };
}
