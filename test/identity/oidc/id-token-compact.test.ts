import { describe, expect, it } from "vitest";
import { checkCompactEncoding, isCanonicalBase64url } from "../../../src/identity/oidc/id-token-compact.ts";
import { IdTokenRejected } from "../../../src/identity/oidc/id-token.errors.ts";

describe("isCanonicalBase64url", () => {
  it.each(["", "QQ", "QUI", "QUJD", "_-8", "eyJhbGciOiJFUzI1NiJ9"])("accepts the canonical %j", (segment) => {
    expect(isCanonicalBase64url(segment)).toBe(true);
  });

  it.each([
    ["QR", "non-zero unused bits after one byte (QQ is the canonical spelling)"],
    ["QUJ", "non-zero unused bits after two bytes (QUI is the canonical spelling)"],
    ["QQ==", "padding"],
    ["QUI=", "padding"],
    ["Q", "a length of 1 mod 4, which encodes no whole byte"],
    ["QUJD/w", "the base64 alphabet's '/'"],
    ["QUJD+w", "the base64 alphabet's '+'"],
    ["QU JD", "whitespace"],
    ["QUJD\n", "a newline"],
  ])("refuses %j: %s", (segment) => {
    expect(isCanonicalBase64url(segment)).toBe(false);
  });
});

describe("checkCompactEncoding", () => {
  const reason = (token: string): string => {
    try {
      checkCompactEncoding(token);
      return "accepted";
    } catch (error) {
      if (error instanceof IdTokenRejected) return error.reason;
      throw error;
    }
  };

  it("accepts three canonical segments, including an empty signature (refused later, by alg)", () => {
    expect(reason("eyJhbGciOiJFUzI1NiJ9.e30.QUJD")).toBe("accepted");
    expect(reason("eyJhbGciOiJub25lIn0.e30.")).toBe("accepted");
  });

  it("refuses a non-canonical header, payload or signature as malformed", () => {
    expect(reason("eyJhbGciOiJub25lIn1.e30.QUJD")).toBe("malformed");
    expect(reason("eyJhbGciOiJFUzI1NiJ9.e31.QUJD")).toBe("malformed");
    expect(reason("eyJhbGciOiJFUzI1NiJ9.e30.QR")).toBe("malformed");
  });

  it("refuses anything but three segments", () => {
    expect(reason("eyJhbGciOiJFUzI1NiJ9.e30")).toBe("malformed");
    expect(reason("eyJhbGciOiJFUzI1NiJ9.e30.QUJD.QUJD")).toBe("malformed");
    expect(reason("")).toBe("malformed");
  });
});
