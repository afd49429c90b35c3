import { describe, expect, it } from "vitest";
import { bearerTokenOf, constantTimeEqual } from "../../src/platform/credentials.ts";

describe("bearerTokenOf", () => {
  it.each(["Bearer", "bearer", "BEARER", "bEaReR"])("reads the token whatever the case of the scheme (%s)", (scheme) => {
    expect(bearerTokenOf(`${scheme} nsk.k1.abc`)).toBe("nsk.k1.abc");
  });

  it("allows more than one space between scheme and token (RFC 7235 1*SP)", () => {
    expect(bearerTokenOf("Bearer   eyJ.a.b")).toBe("eyJ.a.b");
  });

  it.each([
    undefined,
    "",
    "Bearer",
    "Bearer ",
    "Bearer    ",
    "Basic dXNlcjpwYXNz",
    "Bearerx token",
    "Bearer\ttoken",
    "Bearer two tokens",
    "Bearer tökén",
    "Token Bearer abc",
  ])("refuses %j", (header) => {
    expect(bearerTokenOf(header)).toBeUndefined();
  });
});

describe("constantTimeEqual", () => {
  it("accepts the same secret", () => {
    expect(constantTimeEqual("s3cret-token", "s3cret-token")).toBe(true);
  });

  it.each(["s3cret-toke", "s3cret-token ", "S3cret-token", "", "s3cret-token-and-more"])("refuses a different secret (%j), whatever its length", (presented) => {
    expect(constantTimeEqual("s3cret-token", presented)).toBe(false);
  });
});
