import { Buffer } from "node:buffer";
import { IdTokenRejected } from "./id-token.errors.ts";

/** The unpadded base64url alphabet (RFC 4648 §5, RFC 7515 §2). */
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Whether `segment` is the one encoding of its bytes: unpadded base64url, no characters outside
 * the alphabet, and the unused low bits of the last character zero. Decoding and encoding again
 * must give back exactly the input; anything else (a trailing `=`, a final `R` where `Q` encodes
 * the same byte, a length that is 1 mod 4) is another spelling of some token, or of none.
 */
export function isCanonicalBase64url(segment: string): boolean {
  if (!BASE64URL.test(segment)) return false;
  return Buffer.from(segment, "base64url").toString("base64url") === segment;
}

/**
 * RFC 7515 §7.1 compact serialization, each of the three segments canonical. jose decodes with
 * the forgiving base64 of `atob`, which ignores non-zero trailing bits, so a JWS whose
 * signature differs from the signed one only in those bits would verify as the same token: a
 * second spelling of one credential, which breaks any "seen this token" bookkeeping and lets a
 * replay look new. This check runs before anything else reads the token. Pure.
 *
 * @throws {IdTokenRejected} `malformed` when the token is not three canonical segments.
 */
export function checkCompactEncoding(token: string): void {
  const segments = token.split(".");
  if (segments.length !== 3 || !segments.every(isCanonicalBase64url)) throw new IdTokenRejected("malformed");
}
