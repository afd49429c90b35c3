import { errors, jwtVerify, type CryptoKey, type JWTVerifyOptions, type JWTVerifyResult } from "jose";
import type { VerifiedSignIn } from "../credentials.ts";
import { domainSubject, type Domain } from "../domains/domain.ts";
import type { IdTokenVerifier } from "../sessions/sign-in-provider.ts";
import { ALLOWED_ID_TOKEN_ALGORITHMS, validateIdTokenClaims } from "./id-token-claims.ts";
import { checkCompactEncoding } from "./id-token-compact.ts";
import { IdTokenRejected, translateJoseError } from "./id-token.errors.ts";
import type { JwksCache, KeyResolver } from "./jwks-cache.ts";
import { assertLeewaySeconds } from "../../platform/config.ts";


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

/** RFC 7518 §3.3 and §3.5; jose enforces it too, but with a TypeError that would read as a crash. */
const MIN_RSA_MODULUS_BITS = 2048;

/**
 * A key jose will verify with. An RSA key under 2048 bits is something the provider should not
 * have published: refused as `jwks_unavailable` (not the token's fault), like a malformed JWK.
 */
function isUsableKey(key: CryptoKey): boolean {
  const { algorithm } = key;
  return !("modulusLength" in algorithm) || (typeof algorithm.modulusLength === "number" && algorithm.modulusLength >= MIN_RSA_MODULUS_BITS);
}

function usableKeys(keys: KeyResolver): KeyResolver {
  return async (header, token) => {
    const key = await keys(header, token);
    if (!isUsableKey(key)) throw new IdTokenRejected("jwks_unavailable");
    return key;
  };
}

/**
 * A token without `kid` while the provider publishes several keys for its `alg`: jose hands
 * back every candidate and the signature decides (its documented pattern).
 */
async function verifyWithEachCandidate(token: string, candidates: AsyncIterable<CryptoKey>, options: JWTVerifyOptions): Promise<JWTVerifyResult> {
  for await (const key of candidates) {
    if (!isUsableKey(key)) continue;
    try {
      return await jwtVerify(token, key, options);
    } catch (error) {
      if (!(error instanceof errors.JWSSignatureVerificationFailed)) throw error;
    }
  }
  throw new IdTokenRejected("signature_invalid");
}

async function verifyJwt(token: string, keys: KeyResolver, options: JWTVerifyOptions): Promise<JWTVerifyResult> {
  try {
    return await jwtVerify(token, keys, options);
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    return verifyWithEachCandidate(token, error, options);
  }
}

/**
 * The bearer id_token validator (DESIGN.md, "Admin authentication"), the way a Kubernetes API
 * server validates one. Steps, in order:
 * 1. refuse a token that is not three canonical base64url segments ({@link checkCompactEncoding});
 * 2. jose `jwtVerify` against the issuer's cached JWKS: critical header parameters it does not
 *    understand are refused; the `alg` allow-list is applied before any key is looked up, so
 *    `none` and HS* tokens cost no JWKS traffic; the key comes from the cache (one rate-limited
 *    refresh on an unknown kid); then the signature, and exp/nbf with the same clock and leeway;
 * 3. the claim checks of {@link validateIdTokenClaims} (alg, typ, iss, aud, azp, exp, nbf, iat,
 *    auth_time, sub, nonce, acr/amr types).
 *
 * jose's `typ` option is not used: it requires the header to be present, while id_tokens
 * commonly omit it; the claim checks accept an absent `typ` or `JWT` and refuse any other.
 *
 * @throws {RangeError} at construction when the leeway is outside [0, 120] seconds.
 * `verify` rejects with {@link IdTokenRejected} (a `SignInRefused`) carrying one of the stable
 * reasons of `IdTokenRejectionReason`.
 */
export function createIdTokenVerifier(options: IdTokenVerifierOptions): OidcIdTokenVerifier {
  assertLeewaySeconds(options.leewaySeconds);
  const algorithms = [...ALLOWED_ID_TOKEN_ALGORITHMS];

  return {
    async verify(domain: Domain, token: string, verifyOptions: VerifyIdTokenOptions = {}): Promise<VerifiedSignIn> {
      checkCompactEncoding(token);

      // One reading of the clock for both layers, so they judge the same instant.
      const now = options.now();
      let verified: JWTVerifyResult;
      try {
        verified = await verifyJwt(token, usableKeys(options.jwks.resolverFor(domain.issuer)), {
          algorithms,
          currentDate: new Date(now * 1000),
          clockTolerance: options.leewaySeconds,
        });
      } catch (error) {
        throw translateJoseError(error);
      }

      const claims = validateIdTokenClaims(verified.payload, verified.protectedHeader, {
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
