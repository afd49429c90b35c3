import { errors } from "jose";
import { SignInRefused } from "../sessions/sign-in-provider.ts";

/**
 * Why an id_token was refused. Stable: these strings go to the audit record and are asserted
 * by tests, so they are never renamed once shipped. The client only ever sees `invalid_token`.
 */
export type IdTokenRejectionReason =
  /** The compact JWS or its JSON is broken, or a claim has the wrong type. */
  | "malformed"
  /** `alg` is not one of the asymmetric algorithms Custos accepts (no `none`, no HS*). */
  | "alg_not_allowed"
  /** The header's `typ` is neither absent nor `JWT`: an access token (`at+jwt`) or another kind of JWT. */
  | "typ_not_allowed"
  /** No key in the provider's JWKS matches the token's `kid` (and `alg`), even after a refresh. */
  | "kid_unknown"
  /** The provider's keys could not be fetched and none are cached for this token. */
  | "jwks_unavailable"
  | "signature_invalid"
  | "iss_mismatch"
  | "aud_mismatch"
  | "azp_missing"
  | "azp_mismatch"
  | "exp_missing"
  | "expired"
  | "not_yet_valid"
  | "iat_missing"
  | "issued_in_future"
  | "auth_time_in_future"
  | "sub_missing"
  /** `sub` is longer than 255 bytes (UTF-8), or holds a control character or ill-formed Unicode. */
  | "sub_invalid"
  /** Only when the caller expects a nonce (the browser sign-in callback). */
  | "nonce_mismatch";

/**
 * An id_token refusal. It is a {@link SignInRefused} so that the admin authentication path,
 * which audits `reason` and answers `invalid_token`, handles it without knowing about OIDC.
 */
export class IdTokenRejected extends SignInRefused {
  override readonly reason: IdTokenRejectionReason;

  constructor(reason: IdTokenRejectionReason, options: { cause?: unknown } = {}) {
    super(reason, options);
    this.name = "IdTokenRejected";
    this.reason = reason;
  }
}

export function isIdTokenRejected(error: unknown): error is IdTokenRejected {
  return error instanceof IdTokenRejected;
}

/**
 * jose's failures as refusals: the one place a jose error becomes a reason (the verifier and the
 * JWKS cache both go through it). An {@link IdTokenRejected} passes through; anything
 * unexpected is returned untouched, for the caller to rethrow, so that it surfaces as an
 * internal error and not as a plausible refusal.
 */
export function translateJoseError(error: unknown): unknown {
  if (error instanceof IdTokenRejected) return error;
  const cause = { cause: error };
  if (error instanceof errors.JOSEAlgNotAllowed) return new IdTokenRejected("alg_not_allowed", cause);
  if (error instanceof errors.JWSSignatureVerificationFailed) return new IdTokenRejected("signature_invalid", cause);
  if (error instanceof errors.JWKSNoMatchingKey) return new IdTokenRejected("kid_unknown", cause);
  // The provider published something unusable (malformed JWK, a private key): not the token's fault.
  if (error instanceof errors.JWKSInvalid || error instanceof errors.JWKInvalid) return new IdTokenRejected("jwks_unavailable", cause);
  // jose judges exp and nbf with the same instant and leeway as validateIdTokenClaims, and the
  // same boundaries, so these carry the reasons the claim checks would have given.
  if (error instanceof errors.JWTExpired) return new IdTokenRejected("expired", cause);
  if (error instanceof errors.JWTClaimValidationFailed) {
    return new IdTokenRejected(error.claim === "nbf" && error.reason === "check_failed" ? "not_yet_valid" : "malformed", cause);
  }
  // A broken JWS or claims set, an unknown critical header parameter, an unencoded payload.
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid || error instanceof errors.JOSENotSupported) {
    return new IdTokenRejected("malformed", cause);
  }
  return error;
}
