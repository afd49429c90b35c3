import { constants, KeyObject, verify as verifySignatureBytes } from "node:crypto";
import { decodeProtectedHeader, errors, type CryptoKey, type ProtectedHeaderParameters } from "jose";
import type { VerifiedSignIn } from "../admin-credential.ts";
import { domainSubject, type Domain } from "../domains/domain.ts";
import type { IdTokenVerifier } from "../sessions/sign-in-provider.ts";
import { isAllowedIdTokenAlgorithm, validateIdTokenClaims, type IdTokenAlgorithm } from "./id-token-claims.ts";
import { IdTokenRejected } from "./id-token.errors.ts";
import type { JwksCache, KeyResolver } from "./jwks-cache.ts";

/** DESIGN.md, "Admin authentication": the leeway is configurable but never above 120 s. */
export const MAX_LEEWAY_SECONDS = 120;

export interface IdTokenVerifierOptions {
  readonly jwks: JwksCache;
  /** Clock tolerance for exp, nbf, iat and auth_time; an integer in [0, 120]. */
  readonly leewaySeconds: number;
  /** Seconds since the epoch. */
  readonly now: () => number;
}

/** Extra expectations of the browser callback, which shares this validator with bearer tokens. */
export interface VerifyIdTokenOptions {
  readonly nonce?: string | undefined;
}

export interface OidcIdTokenVerifier extends IdTokenVerifier {
  verify(domain: Domain, token: string, options?: VerifyIdTokenOptions): Promise<VerifiedSignIn>;
}

/**
 * Failures of jose's JWKS key selection, translated at this boundary and nowhere else (the
 * signature and the claims are checked here, with typed refusals of their own). Anything
 * unexpected is rethrown untouched so that it surfaces as an internal error, not as a
 * plausible refusal.
 */
function translateJoseError(error: unknown): unknown {
  if (error instanceof IdTokenRejected) return error;
  const cause = { cause: error };
  if (error instanceof errors.JOSEAlgNotAllowed) return new IdTokenRejected("alg_not_allowed", cause);
  if (error instanceof errors.JWKSNoMatchingKey) return new IdTokenRejected("kid_unknown", cause);
  // The provider published something unusable (malformed JWK, a private key): not the token's fault.
  if (error instanceof errors.JWKSInvalid || error instanceof errors.JWKInvalid) return new IdTokenRejected("jwks_unavailable", cause);
  if (error instanceof errors.JOSENotSupported) return new IdTokenRejected("malformed", cause);
  return error;
}

function protectedHeaderOf(token: string): ProtectedHeaderParameters {
  try {
    return decodeProtectedHeader(token);
  } catch (cause) {
    throw new IdTokenRejected("malformed", { cause });
  }
}

/** How node:crypto verifies each allowed JWS algorithm (RFC 7518, section 3). */
const NODE_VERIFY: Readonly<Record<IdTokenAlgorithm, { hash: string | null; pss?: number; p1363?: true }>> = {
  RS256: { hash: "sha256" }, RS384: { hash: "sha384" }, RS512: { hash: "sha512" },
  PS256: { hash: "sha256", pss: 32 }, PS384: { hash: "sha384", pss: 48 }, PS512: { hash: "sha512", pss: 64 },
  ES256: { hash: "sha256", p1363: true }, ES384: { hash: "sha384", p1363: true }, ES512: { hash: "sha512", p1363: true },
  EdDSA: { hash: null },
};

const BASE64URL = /^[A-Za-z0-9_-]+$/;

interface CompactJws {
  readonly parts: { readonly protected: string; readonly payload: string; readonly signature: string };
  readonly signingInput: Buffer;
  readonly payload: string;
  readonly signature: Buffer;
}

function splitCompactJws(token: string): CompactJws {
  const parts = token.split(".");
  const [header = "", payload = "", signature = ""] = parts;
  if (parts.length !== 3 || !BASE64URL.test(header) || !BASE64URL.test(payload) || !BASE64URL.test(signature)) {
    throw new IdTokenRejected("malformed");
  }
  return {
    parts: { protected: header, payload, signature },
    signingInput: Buffer.from(`${header}.${payload}`, "ascii"),
    payload: Buffer.from(payload, "base64url").toString("utf8"),
    signature: Buffer.from(signature, "base64url"),
  };
}

/** jose selects and imports the key (as a WebCrypto key); node:crypto checks the signature. */
const keyObjects = new WeakMap<CryptoKey, KeyObject>();
function keyObjectOf(key: CryptoKey): KeyObject {
  let object = keyObjects.get(key);
  if (object === undefined) {
    object = KeyObject.from(key);
    keyObjects.set(key, object);
  }
  return object;
}

function signatureHolds(jws: CompactJws, alg: IdTokenAlgorithm, key: CryptoKey): boolean {
  const how = NODE_VERIFY[alg];
  const keyObject = keyObjectOf(key);
  try {
    return verifySignatureBytes(how.hash, jws.signingInput, {
      key: keyObject,
      ...(how.pss === undefined ? {} : { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: how.pss }),
      ...(how.p1363 === true ? { dsaEncoding: "ieee-p1363" as const } : {}),
    }, jws.signature);
  } catch {
    // A key of the wrong type for the algorithm, or a signature of the wrong length.
    return false;
  }
}

/**
 * The signature, checked with node:crypto (several times cheaper per call than WebCrypto)
 * against the key jose's JWKS resolver selects. A token without `kid` while the provider
 * publishes several keys for its `alg` is tried against each candidate (jose's documented
 * pattern); the signature decides.
 */
async function verifySignature(token: string, header: ProtectedHeaderParameters & { alg: IdTokenAlgorithm }, keys: KeyResolver): Promise<Record<string, unknown>> {
  if (header.crit !== undefined) throw new IdTokenRejected("malformed");
  const jws = splitCompactJws(token);
  let candidates: CryptoKey[];
  try {
    candidates = [await keys(header, jws.parts)];
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    candidates = [];
    for await (const key of error) candidates.push(key);
  }
  if (!candidates.some((key) => signatureHolds(jws, header.alg, key))) throw new IdTokenRejected("signature_invalid");
  let payload: unknown;
  try {
    payload = JSON.parse(jws.payload);
  } catch (cause) {
    throw new IdTokenRejected("malformed", { cause });
  }
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) throw new IdTokenRejected("malformed");
  return payload as Record<string, unknown>;
}

function assertLeeway(leewaySeconds: number): void {
  if (!Number.isInteger(leewaySeconds) || leewaySeconds < 0 || leewaySeconds > MAX_LEEWAY_SECONDS) {
    throw new RangeError(`id_token leeway must be an integer between 0 and ${MAX_LEEWAY_SECONDS} seconds`);
  }
}

/**
 * The bearer id_token validator (DESIGN.md, "Admin authentication"), the way a Kubernetes API
 * server validates one. Steps, in order:
 * 1. decode the protected header; refuse any `alg` outside the asymmetric allow-list before a key
 *    is looked up, so `none` and HS* tokens cost no JWKS traffic;
 * 2. resolve the key from the issuer's cached JWKS (one rate-limited refresh on an unknown kid);
 * 3. verify the signature with node:crypto against the key jose selected (several times cheaper
 *    per call than the WebCrypto path jose takes), refusing critical header extensions;
 * 4. check the claims with {@link validateIdTokenClaims} (iss, aud, azp, exp, nbf, iat,
 *    auth_time, sub).
 *
 * @throws {RangeError} at construction when the leeway is outside [0, 120] seconds.
 * `verify` rejects with {@link IdTokenRejected} (a `SignInRefused`) carrying one of the stable
 * reasons of `IdTokenRejectionReason`.
 */
export function createIdTokenVerifier(options: IdTokenVerifierOptions): OidcIdTokenVerifier {
  assertLeeway(options.leewaySeconds);

  return {
    async verify(domain: Domain, token: string, verifyOptions: VerifyIdTokenOptions = {}): Promise<VerifiedSignIn> {
      const header = protectedHeaderOf(token);
      if (!isAllowedIdTokenAlgorithm(header.alg)) throw new IdTokenRejected("alg_not_allowed");

      // One reading of the clock for both layers, so they judge the same instant.
      const now = options.now();
      let payload: Record<string, unknown>;
      try {
        payload = await verifySignature(token, { ...header, alg: header.alg }, options.jwks.resolverFor(domain.issuer));
      } catch (error) {
        throw translateJoseError(error);
      }

      const claims = validateIdTokenClaims(payload, header, {
        issuer: domain.issuer,
        clientId: domain.clientId,
        now,
        leewaySeconds: options.leewaySeconds,
        nonce: verifyOptions.nonce,
      });
      return {
        sub: claims.sub,
        subject: domainSubject(domain.id, claims.sub),
        acr: claims.acr,
        amr: claims.amr,
        authTime: claims.authTime,
      };
    },
  };
}
