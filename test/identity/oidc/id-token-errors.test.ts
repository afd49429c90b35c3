import { errors } from "jose";
import { describe, expect, it } from "vitest";
import { IdTokenRejected, translateJoseError } from "../../../src/identity/oidc/id-token.errors.ts";

describe("translateJoseError", () => {
  const reasonOf = (error: unknown): string => {
    const translated = translateJoseError(error);
    if (!(translated instanceof IdTokenRejected)) throw new Error("not translated");
    expect(translated.cause).toBe(error);
    return translated.reason;
  };

  it.each<[string, Error, string]>([
    ["JOSEAlgNotAllowed", new errors.JOSEAlgNotAllowed("x"), "alg_not_allowed"],
    ["JWSSignatureVerificationFailed", new errors.JWSSignatureVerificationFailed(), "signature_invalid"],
    ["JWKSNoMatchingKey", new errors.JWKSNoMatchingKey(), "kid_unknown"],
    ["JWKSInvalid", new errors.JWKSInvalid("x"), "jwks_unavailable"],
    ["JWKInvalid", new errors.JWKInvalid("x"), "jwks_unavailable"],
    ["JWTExpired", new errors.JWTExpired("x", {}, "exp", "check_failed"), "expired"],
    ["JWTClaimValidationFailed on nbf", new errors.JWTClaimValidationFailed("x", {}, "nbf", "check_failed"), "not_yet_valid"],
    ["JWTClaimValidationFailed on an iat of the wrong type", new errors.JWTClaimValidationFailed("x", {}, "iat", "invalid"), "malformed"],
    ["JWSInvalid", new errors.JWSInvalid("x"), "malformed"],
    ["JWTInvalid", new errors.JWTInvalid("x"), "malformed"],
    ["JOSENotSupported (an unknown critical header parameter)", new errors.JOSENotSupported("x"), "malformed"],
  ])("translates %s", (_name, error, reason) => {
    expect(reasonOf(error)).toBe(reason);
  });

  it("passes an IdTokenRejected through unchanged", () => {
    const rejected = new IdTokenRejected("kid_unknown");
    expect(translateJoseError(rejected)).toBe(rejected);
  });

  it("returns anything else untouched, so that it surfaces as an internal error rather than a plausible refusal", () => {
    const bug = new TypeError("a defect");
    expect(translateJoseError(bug)).toBe(bug);
    const multiple = new errors.JWKSMultipleMatchingKeys();
    expect(translateJoseError(multiple)).toBe(multiple);
  });
});
