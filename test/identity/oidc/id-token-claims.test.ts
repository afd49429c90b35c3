import type { JWTPayload } from "jose";
import { describe, expect, it } from "vitest";
import { ALLOWED_ID_TOKEN_ALGORITHMS, validateIdTokenClaims, type IdTokenExpectation } from "../../../src/identity/oidc/id-token-claims.ts";
import { IdTokenRejected } from "../../../src/identity/oidc/id-token.errors.ts";
import { DOMAIN_A, NOW, validClaims } from "./id-token-fixtures.ts";

const LEEWAY = 30;
const EXPECT: IdTokenExpectation = { issuer: DOMAIN_A.issuer, clientId: DOMAIN_A.clientId, now: NOW, leewaySeconds: LEEWAY };
const ES256 = { alg: "ES256", typ: "JWT" };

function claims(overrides: JWTPayload = {}): JWTPayload {
  return validClaims(DOMAIN_A, overrides);
}

/** The reason the claims are refused with, or "accepted". */
function verdict(payload: Readonly<Record<string, unknown>>, header: Record<string, unknown> = ES256, expectation: IdTokenExpectation = EXPECT): string {
  try {
    validateIdTokenClaims(payload, header, expectation);
    return "accepted";
  } catch (error) {
    if (error instanceof IdTokenRejected) return error.reason;
    throw error;
  }
}

describe("validateIdTokenClaims", () => {
  it("accepts a well-formed token and returns the claims Custos uses", () => {
    expect(validateIdTokenClaims(claims(), ES256, EXPECT)).toEqual({
      iss: DOMAIN_A.issuer,
      sub: "user-1",
      aud: [DOMAIN_A.clientId],
      azp: undefined,
      exp: NOW + 300,
      iat: NOW - 10,
      nbf: undefined,
      authTime: NOW - 20,
      acr: "urn:custos:acr:mfa",
      amr: ["pwd", "otp"],
    });
  });

  describe("alg", () => {
    it("accepts every asymmetric algorithm on the allow-list", () => {
      for (const alg of ALLOWED_ID_TOKEN_ALGORITHMS) expect(verdict(claims(), { alg })).toBe("accepted");
    });

    it.each(["none", "HS256", "HS384", "HS512", "RS1", "", undefined])("refuses alg %s", (alg) => {
      expect(verdict(claims(), { alg })).toBe("alg_not_allowed");
    });
  });

  describe("typ", () => {
    it.each([undefined, "JWT", "jwt", "application/jwt", "Application/JWT"])("accepts typ %s", (typ) => {
      expect(verdict(claims(), { alg: "ES256", typ })).toBe("accepted");
    });

    it.each(["at+jwt", "application/at+jwt", "AT+JWT", "logout+jwt", "secevent+jwt", "JWS", "jwt ", "application/jwt+x", ""])("refuses typ %j", (typ) => {
      expect(verdict(claims(), { alg: "ES256", typ })).toBe("typ_not_allowed");
    });

    it("refuses a typ that is not a string as malformed", () => {
      expect(verdict(claims(), { alg: "ES256", typ: ["JWT"] })).toBe("malformed");
    });
  });

  describe("iss", () => {
    it("refuses an issuer that differs from the configured one", () => {
      expect(verdict(claims({ iss: DOMAIN_A.issuer.replace("alpha", "evil") }))).toBe("iss_mismatch");
    });

    it("compares the issuer exactly: a trailing slash is another issuer", () => {
      expect(verdict(claims({ iss: `${DOMAIN_A.issuer}/` }))).toBe("iss_mismatch");
    });

    it("refuses a token without iss", () => {
      expect(verdict(claims({ iss: undefined }))).toBe("iss_mismatch");
    });
  });

  describe("aud and azp", () => {
    it("refuses a token whose aud does not contain the client id", () => {
      expect(verdict(claims({ aud: "another-client" }))).toBe("aud_mismatch");
      expect(verdict(claims({ aud: ["another-client", "third"], azp: "another-client" }))).toBe("aud_mismatch");
    });

    it("refuses a token without aud", () => {
      expect(verdict(claims({ aud: undefined }))).toBe("aud_mismatch");
    });

    it("refuses an aud that is neither a string nor an array of strings", () => {
      expect(verdict({ ...claims(), aud: [DOMAIN_A.clientId, 7] })).toBe("malformed");
    });

    it("accepts several audiences when azp is the client id", () => {
      expect(verdict(claims({ aud: [DOMAIN_A.clientId, "api"], azp: DOMAIN_A.clientId }))).toBe("accepted");
    });

    it("refuses several audiences without azp", () => {
      expect(verdict(claims({ aud: [DOMAIN_A.clientId, "api"] }))).toBe("azp_missing");
    });

    it("refuses several audiences whose azp is another client", () => {
      expect(verdict(claims({ aud: [DOMAIN_A.clientId, "api"], azp: "api" }))).toBe("azp_mismatch");
    });

    it("checks azp even with a single audience when it is present", () => {
      expect(verdict(claims({ azp: "another-client" }))).toBe("azp_mismatch");
      expect(verdict(claims({ azp: DOMAIN_A.clientId }))).toBe("accepted");
    });
  });

  describe("exp (valid while now < exp + leeway)", () => {
    it("accepts a token expired by less than the leeway", () => {
      expect(verdict(claims({ exp: NOW - LEEWAY + 1 }))).toBe("accepted");
    });

    it("refuses a token whose exp is exactly leeway seconds past", () => {
      expect(verdict(claims({ exp: NOW - LEEWAY }))).toBe("expired");
    });

    it("refuses a token whose exp is past the leeway", () => {
      expect(verdict(claims({ exp: NOW - LEEWAY - 60 }))).toBe("expired");
    });

    it("refuses an expired token when the leeway is zero", () => {
      expect(verdict(claims({ exp: NOW }), ES256, { ...EXPECT, leewaySeconds: 0 })).toBe("expired");
      expect(verdict(claims({ exp: NOW + 1 }), ES256, { ...EXPECT, leewaySeconds: 0 })).toBe("accepted");
    });

    it("refuses a token without exp", () => {
      expect(verdict(claims({ exp: undefined }))).toBe("exp_missing");
    });

    it("refuses an exp that is not a number", () => {
      expect(verdict({ ...claims(), exp: String(NOW + 300) })).toBe("malformed");
    });
  });

  describe("nbf", () => {
    it("refuses a token whose nbf is in the future beyond the leeway", () => {
      expect(verdict(claims({ nbf: NOW + LEEWAY + 1 }))).toBe("not_yet_valid");
    });

    it("accepts an nbf in the future within the leeway, boundary included", () => {
      expect(verdict(claims({ nbf: NOW + LEEWAY }))).toBe("accepted");
    });
  });

  describe("iat", () => {
    it("refuses a token issued in the future beyond the leeway", () => {
      expect(verdict(claims({ iat: NOW + LEEWAY + 1 }))).toBe("issued_in_future");
    });

    it("accepts an iat in the future within the leeway, boundary included", () => {
      expect(verdict(claims({ iat: NOW + LEEWAY }))).toBe("accepted");
    });

    it("refuses a token without iat", () => {
      expect(verdict(claims({ iat: undefined }))).toBe("iat_missing");
    });
  });

  describe("auth_time", () => {
    it("refuses an auth_time in the future beyond the leeway", () => {
      expect(verdict(claims({ auth_time: NOW + LEEWAY + 1 }))).toBe("auth_time_in_future");
    });

    it("accepts an auth_time in the future within the leeway, and a token without auth_time", () => {
      expect(verdict(claims({ auth_time: NOW + LEEWAY }))).toBe("accepted");
      expect(validateIdTokenClaims(claims({ auth_time: undefined }), ES256, EXPECT).authTime).toBeUndefined();
    });

    it("refuses an auth_time that is not a number", () => {
      expect(verdict({ ...claims(), auth_time: "yesterday" })).toBe("malformed");
    });
  });

  describe("sub", () => {
    it("refuses a token without sub", () => {
      expect(verdict(claims({ sub: undefined }))).toBe("sub_missing");
    });

    it("refuses an empty sub", () => {
      expect(verdict(claims({ sub: "" }))).toBe("sub_missing");
    });

    it("refuses a sub that is not a string", () => {
      expect(verdict({ ...claims(), sub: 42 })).toBe("sub_missing");
    });

    it("accepts a sub of 1 and of 255 characters, and refuses one of 256", () => {
      expect(verdict(claims({ sub: "a" }))).toBe("accepted");
      expect(verdict(claims({ sub: "a".repeat(255) }))).toBe("accepted");
      expect(verdict(claims({ sub: "a".repeat(256) }))).toBe("sub_invalid");
      expect(verdict(claims({ sub: "a".repeat(100_000) }))).toBe("sub_invalid");
    });

    it("counts a non-ASCII sub in UTF-8 bytes: 85 three-byte characters pass, 86 do not", () => {
      expect(verdict(claims({ sub: "\u20ac".repeat(85) }))).toBe("accepted");
      expect(verdict(claims({ sub: "\u20ac".repeat(86) }))).toBe("sub_invalid");
      expect(verdict(claims({ sub: "caf\u00e9-\u{1f600}" }))).toBe("accepted");
    });

    it.each([
      ["NUL", "alice\u0000"],
      ["a line feed", "alice\nadmin"],
      ["a carriage return", "alice\r"],
      ["a tab", "al\tice"],
      ["ESC", "\u001b[31malice"],
      ["DEL", "alice\u007f"],
      ["a C1 control (NEL)", "alice\u0085"],
      ["a C1 control (APC)", "\u009falice"],
      ["a lone high surrogate", "alice\ud800"],
      ["a lone low surrogate", "\udc00alice"],
    ])("refuses a sub holding %s", (_what, sub) => {
      expect(verdict(claims({ sub }))).toBe("sub_invalid");
    });

    it("accepts printable punctuation, spaces and the characters real providers use", () => {
      for (const sub of ["auth0|5f7c8ec7c33c6c004bbafe82", "00u1abcd2EFGH3ijk4x7", "alice@example.org", "248289761001", "a b", "=/+"]) {
        expect(verdict(claims({ sub })), sub).toBe("accepted");
      }
    });
  });

  describe("nonce", () => {
    it("refuses a nonce other than the expected one, and a missing one", () => {
      expect(verdict(claims({ nonce: "other" }), ES256, { ...EXPECT, nonce: "n-1" })).toBe("nonce_mismatch");
      expect(verdict(claims(), ES256, { ...EXPECT, nonce: "n-1" })).toBe("nonce_mismatch");
      expect(verdict(claims({ nonce: "n-1" }), ES256, { ...EXPECT, nonce: "n-1" })).toBe("accepted");
    });
  });

  describe("acr and amr", () => {
    it("defaults amr to an empty list", () => {
      expect(validateIdTokenClaims(claims({ amr: undefined }), ES256, EXPECT).amr).toEqual([]);
    });

    it("refuses an amr that is not an array of strings, and an acr that is not a string", () => {
      expect(verdict({ ...claims(), amr: "pwd" })).toBe("malformed");
      expect(verdict({ ...claims(), amr: ["pwd", 2] })).toBe("malformed");
      expect(verdict({ ...claims(), acr: 2 })).toBe("malformed");
    });
  });

  it("checks in order: alg before typ before iss before aud before exp before sub", () => {
    const everythingWrong = { iss: "x", aud: "y", sub: "", iat: NOW, exp: NOW - 3600 };
    expect(verdict(everythingWrong, { alg: "none" })).toBe("alg_not_allowed");
    expect(verdict(everythingWrong, { alg: "ES256", typ: "at+jwt" })).toBe("typ_not_allowed");
    expect(verdict(everythingWrong)).toBe("iss_mismatch");
    expect(verdict({ ...everythingWrong, iss: DOMAIN_A.issuer })).toBe("aud_mismatch");
    expect(verdict({ ...everythingWrong, iss: DOMAIN_A.issuer, aud: DOMAIN_A.clientId })).toBe("expired");
    expect(verdict({ ...everythingWrong, iss: DOMAIN_A.issuer, aud: DOMAIN_A.clientId, exp: NOW + 60 })).toBe("sub_missing");
  });
});
