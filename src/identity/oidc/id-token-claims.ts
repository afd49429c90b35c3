import { Buffer } from "node:buffer";
import { IdTokenRejected } from "./id-token.errors.ts";

/**
 * Asymmetric JWS algorithms only. `none` and the HS* family are absent on purpose: with HS*
 * a verifier that holds only the provider's public key could be tricked into using that public
 * key as an HMAC secret, which anyone can do.
 */
export const ALLOWED_ID_TOKEN_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
] as const;

export type IdTokenAlgorithm = (typeof ALLOWED_ID_TOKEN_ALGORITHMS)[number];

const ALLOWED = new Set<string>(ALLOWED_ID_TOKEN_ALGORITHMS);

export function isAllowedIdTokenAlgorithm(alg: unknown): alg is IdTokenAlgorithm {
  return typeof alg === "string" && ALLOWED.has(alg);
}

/** What the relying party expects of a token; all times are seconds since the epoch. */
export interface IdTokenExpectation {
  /** Exactly the provider's `iss` (no normalisation: a trailing slash matters). */
  readonly issuer: string;
  readonly clientId: string;
  readonly now: number;
  readonly leewaySeconds: number;
  /** Checked only when given (the browser callback); a bearer token carries no nonce we know. */
  readonly nonce?: string | undefined;
}

/** The claims Custos uses, once they have passed every check. */
export interface ValidatedIdTokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: readonly string[];
  readonly azp: string | undefined;
  readonly exp: number;
  readonly iat: number;
  readonly nbf: number | undefined;
  readonly authTime: number | undefined;
  readonly acr: string | undefined;
  readonly amr: readonly string[];
}

type Claims = Readonly<Record<string, unknown>>;

/** A JWT NumericDate: seconds, possibly fractional (RFC 7519 §2). */
function numericDate(claims: Claims, name: string): number | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) throw new IdTokenRejected("malformed");
  return value;
}

function checkAlgorithm(header: Claims): void {
  if (!isAllowedIdTokenAlgorithm(header.alg)) throw new IdTokenRejected("alg_not_allowed");
}

/**
 * The JWT media type (RFC 7519 §5.1), as RFC 7515 §4.1.9 compares it: case-insensitively, with
 * `application/` implied when absent. So `JWT`, `jwt` and `application/jwt` are one type.
 */
function isJwtMediaType(typ: string): boolean {
  const type = typ.toLowerCase();
  return type === "jwt" || type === "application/jwt";
}

/**
 * An id_token's `typ` is absent or `JWT` (OIDC Core does not require it). Anything else is some
 * other kind of token signed by the same provider — above all an RFC 9068 access token
 * (`at+jwt`), whose audience may also be our client id — and is refused: a token minted to
 * authorise calls to an API is not proof that a user signed in here.
 */
function checkType(header: Claims): void {
  const typ = header.typ;
  if (typ === undefined) return;
  if (typeof typ !== "string") throw new IdTokenRejected("malformed");
  if (!isJwtMediaType(typ)) throw new IdTokenRejected("typ_not_allowed");
}

function checkIssuer(claims: Claims, issuer: string): string {
  // Exact string comparison (OIDC Core §3.1.3.7 step 2): no URL normalisation, so a look-alike
  // issuer can never pass.
  if (claims.iss !== issuer) throw new IdTokenRejected("iss_mismatch");
  return issuer;
}

function audiences(claims: Claims): readonly string[] {
  const aud = claims.aud;
  if (typeof aud === "string") return [aud];
  if (Array.isArray(aud) && aud.every((entry): entry is string => typeof entry === "string")) return aud;
  if (aud === undefined) return [];
  throw new IdTokenRejected("malformed");
}

function checkAudience(claims: Claims, clientId: string): readonly string[] {
  const aud = audiences(claims);
  if (!aud.includes(clientId)) throw new IdTokenRejected("aud_mismatch");
  return aud;
}

/**
 * OIDC Core §3.1.3.7 steps 4–5: with several audiences the token must say who it was issued
 * to, and that must be us; a token minted for another client that merely lists us is refused.
 * An `azp` that is present is always checked, even with a single audience.
 */
function checkAuthorizedParty(claims: Claims, aud: readonly string[], clientId: string): string | undefined {
  const azp = claims.azp;
  if (azp === undefined) {
    if (aud.length > 1) throw new IdTokenRejected("azp_missing");
    return undefined;
  }
  if (typeof azp !== "string") throw new IdTokenRejected("malformed");
  if (azp !== clientId) throw new IdTokenRejected("azp_mismatch");
  return azp;
}

/**
 * RFC 7519 §4.1.4: the current time must be *before* `exp`. With leeway the token is valid while
 * `now < exp + leeway`, and expired from `now >= exp + leeway` on — the same rule as jose's
 * `jwtVerify`, so the signature layer and this one can never disagree on the boundary second.
 */
function checkExpiry(claims: Claims, now: number, leeway: number): number {
  const exp = numericDate(claims, "exp");
  if (exp === undefined) throw new IdTokenRejected("exp_missing");
  if (now >= exp + leeway) throw new IdTokenRejected("expired");
  return exp;
}

/** Valid from `nbf - leeway` on (`nbf <= now + leeway`). */
function checkNotBefore(claims: Claims, now: number, leeway: number): number | undefined {
  const nbf = numericDate(claims, "nbf");
  if (nbf !== undefined && nbf > now + leeway) throw new IdTokenRejected("not_yet_valid");
  return nbf;
}

/** A token issued in the future (beyond the leeway) comes from a broken or hostile clock. */
function checkIssuedAt(claims: Claims, now: number, leeway: number): number {
  const iat = numericDate(claims, "iat");
  if (iat === undefined) throw new IdTokenRejected("iat_missing");
  if (iat > now + leeway) throw new IdTokenRejected("issued_in_future");
  return iat;
}

/** Step-up freshness is computed from `auth_time`; a future one would make a stale login look fresh. */
function checkAuthTime(claims: Claims, now: number, leeway: number): number | undefined {
  const authTime = numericDate(claims, "auth_time");
  if (authTime !== undefined && authTime > now + leeway) throw new IdTokenRejected("auth_time_in_future");
  return authTime;
}

/** OIDC Core §2: `sub` "MUST NOT exceed 255 ASCII characters in length". */
export const MAX_SUB_BYTES = 255;

/** C0, DEL and C1 controls; and lone surrogate halves, which no UTF-8 text can carry. */
const CONTROL_OR_ILL_FORMED = /[\p{Cc}\p{Cs}]/u;

/**
 * `sub` becomes the Custos subject (`oidc:<domain>:<sub>`): an audit actor, a session column, a
 * SpiceDB object id. It is 1 to 255 bytes of UTF-8 (255 characters for the ASCII subs OIDC
 * prescribes; fewer when the provider uses other characters, so that the escaped object id
 * always fits), with no control character and no lone surrogate. Such a sub is refused here,
 * as an invalid token, rather than failing later in the database or the authorizer.
 */
function checkSubject(claims: Claims): string {
  const sub = claims.sub;
  if (typeof sub !== "string" || sub.length === 0) throw new IdTokenRejected("sub_missing");
  if (CONTROL_OR_ILL_FORMED.test(sub) || Buffer.byteLength(sub, "utf8") > MAX_SUB_BYTES) throw new IdTokenRejected("sub_invalid");
  return sub;
}

function checkNonce(claims: Claims, nonce: string | undefined): void {
  if (nonce !== undefined && claims.nonce !== nonce) throw new IdTokenRejected("nonce_mismatch");
}

/** acr and amr feed the step-up gate: a wrongly typed value is refused, never coerced. */
function authenticationContext(claims: Claims): { acr: string | undefined; amr: readonly string[] } {
  const { acr, amr } = claims;
  if (acr !== undefined && typeof acr !== "string") throw new IdTokenRejected("malformed");
  if (amr === undefined) return { acr, amr: [] };
  if (!Array.isArray(amr) || !amr.every((method): method is string => typeof method === "string")) {
    throw new IdTokenRejected("malformed");
  }
  return { acr, amr };
}

/**
 * Validates an id_token's header and claims, in this order: alg, typ, iss, aud, azp, exp, nbf,
 * iat, auth_time, sub, nonce (when expected), then the types of acr and amr. Pure: the time
 * comes in as `expectation.now`. It does not check the signature — call it only on claims whose
 * signature has been verified.
 *
 * @throws {IdTokenRejected} `alg_not_allowed`, `typ_not_allowed`, `iss_mismatch`,
 *   `aud_mismatch`, `azp_missing`, `azp_mismatch`, `exp_missing`, `expired`, `not_yet_valid`,
 *   `iat_missing`, `issued_in_future`, `auth_time_in_future`, `sub_missing`, `sub_invalid`,
 *   `nonce_mismatch`, `malformed`.
 */
export function validateIdTokenClaims(claims: Claims, header: Claims, expectation: IdTokenExpectation): ValidatedIdTokenClaims {
  const { now, leewaySeconds: leeway } = expectation;
  checkAlgorithm(header);
  checkType(header);
  const iss = checkIssuer(claims, expectation.issuer);
  const aud = checkAudience(claims, expectation.clientId);
  const azp = checkAuthorizedParty(claims, aud, expectation.clientId);
  const exp = checkExpiry(claims, now, leeway);
  const nbf = checkNotBefore(claims, now, leeway);
  const iat = checkIssuedAt(claims, now, leeway);
  const authTime = checkAuthTime(claims, now, leeway);
  const sub = checkSubject(claims);
  checkNonce(claims, expectation.nonce);
  const { acr, amr } = authenticationContext(claims);
  return { iss, sub, aud, azp, exp, iat, nbf, authTime, acr, amr };
}
