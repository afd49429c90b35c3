import { createHmac, randomBytes } from "node:crypto";
import { CompactEncrypt, compactDecrypt } from "jose";
import { jsonObjectBody } from "../http/request-body.ts";
import { constantTimeEqual } from "../platform/credentials.ts";
import { CustosError } from "../platform/errors.ts";
import { deriveRotationProofKey, NSK_BYTES } from "./nsk.ts";

/**
 * The NSK rotation protocol (docs/nsk-rotation.md), both sides. A rotation request carries,
 * besides the bearer, a MAC under a key only an NSK holder (or the secret backend) can
 * derive, over the call, the node, the kid, a timestamp and a single-use nonce; the new NSK
 * comes back only as a JWE under the current wrap key. A bearer seen in a log is therefore
 * neither enough to ask for a rotation nor to read the answer.
 */

/** How far a request's timestamp may be from Custos's clock, either way. */
export const ROTATION_SKEW_SECONDS = 60;
/** Nonces are remembered this long: past it, the timestamp alone refuses a replay. */
export const ROTATION_NONCE_TTL_SECONDS = 2 * ROTATION_SKEW_SECONDS;

const NONCE = /^[A-Za-z0-9_-]{22,64}$/;
const PROOF = /^[A-Za-z0-9_-]{43}$/;
const NEW_NSK_CONTENT_TYPE = "custos-nsk";

export interface RotationRequest {
  /** Epoch seconds, as the node's clock has it. */
  readonly timestamp: number;
  /** base64url, 16 to 48 random bytes; used once. */
  readonly nonce: string;
  /** HMAC-SHA256 under the rotation proof key, 32 bytes. */
  readonly proof: Buffer;
}

function invalid(detail: string): CustosError {
  return new CustosError("invalid_request", { detail });
}

/**
 * The body of POST /v1/nodes/{node_id}/nsk/rotate: `{ timestamp, nonce, proof }`, nothing
 * else. Undefined when there is no proof at all (no body, or no `proof`): the bearer-only
 * request an attacker holding a logged bearer would send, which the route refuses as such.
 */
export function parseRotationRequest(body: unknown): RotationRequest | undefined {
  if (body === undefined) return undefined;
  const { timestamp, nonce, proof } = jsonObjectBody(body, ["timestamp", "nonce", "proof"]);
  if (proof === undefined) return undefined;
  if (typeof timestamp !== "number" || !Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw invalid("timestamp must be the current time in whole epoch seconds");
  }
  if (typeof nonce !== "string" || !NONCE.test(nonce)) throw invalid("nonce must be 22-64 base64url characters (at least 16 random bytes)");
  if (typeof proof !== "string" || !PROOF.test(proof)) throw invalid("proof must be a base64url HMAC-SHA256 (43 characters)");
  const proofBytes = Buffer.from(proof, "base64url");
  if (proofBytes.toString("base64url") !== proof) throw invalid("proof must be a base64url HMAC-SHA256 (43 characters)");
  return { timestamp, nonce, proof: proofBytes };
}

export function rotationPath(nodeId: string): string {
  return `/v1/nodes/${nodeId}/nsk/rotate`;
}

/**
 * What the proof MACs. Every field is validated to hold no newline (a UUID, a kid, an
 * integer, base64url), so the joined string is unambiguous; the method and path bind the MAC
 * to this one call should the key ever serve another.
 */
export function rotationProofMessage(nodeId: string, kid: string, timestamp: number, nonce: string): string {
  return ["custos/v1/rotate", "POST", rotationPath(nodeId), nodeId, kid, String(timestamp), nonce].join("\n");
}

export function computeRotationProof(wrapKey: Uint8Array, nodeId: string, kid: string, timestamp: number, nonce: string): Buffer {
  const key = deriveRotationProofKey(wrapKey);
  try {
    return createHmac("sha256", key).update(rotationProofMessage(nodeId, kid, timestamp, nonce)).digest();
  } finally {
    key.fill(0);
  }
}

export type RotationProofFailure = "proof_stale" | "proof_mismatch";

/** Undefined when the request is fresh and its MAC is the one the current wrap key gives. */
export function checkRotationProof(
  request: RotationRequest,
  expected: { readonly wrapKey: Uint8Array; readonly nodeId: string; readonly kid: string; readonly now: number },
): RotationProofFailure | undefined {
  if (Math.abs(request.timestamp - expected.now) > ROTATION_SKEW_SECONDS) return "proof_stale";
  const mac = computeRotationProof(expected.wrapKey, expected.nodeId, expected.kid, request.timestamp, request.nonce);
  return constantTimeEqual(mac.toString("base64url"), request.proof.toString("base64url")) ? undefined : "proof_mismatch";
}

/** The node side: a fresh request body for its current kid. */
export function newRotationRequestBody(wrapKey: Uint8Array, nodeId: string, kid: string, now: number): { timestamp: number; nonce: string; proof: string } {
  const nonce = randomBytes(24).toString("base64url");
  return { timestamp: now, nonce, proof: computeRotationProof(wrapKey, nodeId, kid, now, nonce).toString("base64url") };
}

/**
 * The new NSK as a compact JWE (`dir`, `A256GCM`) under the CURRENT wrap key: only the holder
 * of the current NSK reads it. The protected header (authenticated as AAD) names the key
 * that opens it (`kid`) and the kid the new NSK belongs to (`new_kid`).
 */
export async function sealNewNsk(newNsk: Uint8Array, currentWrapKey: Uint8Array, currentKid: string, newKid: string): Promise<string> {
  return new CompactEncrypt(newNsk)
    .setProtectedHeader({ alg: "dir", enc: "A256GCM", kid: currentKid, cty: NEW_NSK_CONTENT_TYPE, new_kid: newKid })
    .encrypt(currentWrapKey);
}

/** The node side: opens the answer and checks it is an NSK for `newKid`, sealed to `currentKid`. */
export async function openNewNsk(jwe: string, currentWrapKey: Uint8Array, currentKid: string, newKid: string): Promise<Buffer> {
  const { plaintext, protectedHeader } = await compactDecrypt(jwe, currentWrapKey, {
    keyManagementAlgorithms: ["dir"],
    contentEncryptionAlgorithms: ["A256GCM"],
  });
  if (protectedHeader.kid !== currentKid || protectedHeader.new_kid !== newKid || protectedHeader.cty !== NEW_NSK_CONTENT_TYPE) {
    throw new Error("the JWE is not a new NSK for this key");
  }
  if (plaintext.length !== NSK_BYTES) throw new Error("the JWE does not hold an NSK");
  return Buffer.from(plaintext);
}
