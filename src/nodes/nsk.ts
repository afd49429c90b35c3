import { createHash, hkdfSync, randomBytes } from "node:crypto";
import { KID_PATTERN } from "../platform/names.ts";

/**
 * The node secret key (NSK) and what a node derives from it (DESIGN.md, "Nodes, NSK and the
 * bearer"): HKDF-SHA256, empty salt, 32-byte outputs. Custos keeps only SHA-256 of the
 * bearer secret and the wrap key wrapped by the secret backend; the NSK itself is shown
 * once, at enrollment or rotation, and never stored.
 */
export const NSK_BYTES = 32;
const BEARER_INFO = "custos/v1/bearer";
const WRAP_INFO = "custos/v1/wrap";
const ROTATE_INFO = "custos/v1/rotate";
const BEARER = /^nsk\.([A-Za-z0-9_-]{8,64})\.([A-Za-z0-9_-]{43})$/;

export function newNsk(): Buffer {
  return randomBytes(NSK_BYTES);
}

export function newKid(): string {
  return randomBytes(12).toString("base64url");
}

function derive(nsk: Uint8Array, info: string): Buffer {
  if (nsk.length !== NSK_BYTES) throw new RangeError(`an NSK is ${String(NSK_BYTES)} bytes`);
  return Buffer.from(hkdfSync("sha256", nsk, Buffer.alloc(0), info, 32));
}

export function deriveBearerSecret(nsk: Uint8Array): Buffer {
  return derive(nsk, BEARER_INFO);
}

export function deriveWrapKey(nsk: Uint8Array): Buffer {
  return derive(nsk, WRAP_INFO);
}

/**
 * The key a node MACs its rotation request with (docs/nsk-rotation.md). It is derived from
 * the wrap key rather than straight from the NSK so that Custos, which never holds the NSK
 * but can unwrap the wrap key through the secret backend, can verify the MAC without storing
 * anything new. The bearer is an independent HKDF output: holding it does not give this key.
 */
export function deriveRotationProofKey(wrapKey: Uint8Array): Buffer {
  if (wrapKey.length !== 32) throw new RangeError("a wrap key is 32 bytes");
  return Buffer.from(hkdfSync("sha256", wrapKey, Buffer.alloc(0), ROTATE_INFO, 32));
}

export function formatNodeBearer(kid: string, bearerSecret: Uint8Array): string {
  if (!KID_PATTERN.test(kid)) throw new RangeError("malformed kid");
  return `nsk.${kid}.${Buffer.from(bearerSecret).toString("base64url")}`;
}

/** Hex SHA-256 of the bearer secret: the only trace of it in the database. */
export function bearerSecretDigest(bearerSecret: Uint8Array): string {
  return createHash("sha256").update(bearerSecret).digest("hex");
}

export interface ParsedNodeBearer {
  readonly kid: string;
  readonly secret: Buffer;
}

/** `nsk.<kid>.<base64url(32 bytes)>`, or undefined for anything else. */
export function parseNodeBearer(token: string): ParsedNodeBearer | undefined {
  const match = BEARER.exec(token);
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  const secret = Buffer.from(match[2], "base64url");
  // 43 base64url characters carry 258 bits: the last one must not set bits beyond 256.
  if (secret.length !== 32 || secret.toString("base64url") !== match[2]) return undefined;
  return { kid: match[1], secret };
}

export function parseNsk(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9_-]{43}$/.test(trimmed)) return undefined;
  const nsk = Buffer.from(trimmed, "base64url");
  return nsk.length === NSK_BYTES && nsk.toString("base64url") === trimmed ? nsk : undefined;
}
