import { describe, expect, it } from "vitest";
import { redactLogValue, redactTokenLikeText } from "../../src/platform/logging.ts";

const JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz";

describe("log redaction", () => {
  it("redacts a JWT inside a message", () => {
    expect(redactTokenLikeText(`token was ${JWT} today`)).toBe("token was [redacted] today");
  });

  it("redacts a node bearer", () => {
    const bearer = "nsk.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    expect(redactTokenLikeText(`got ${bearer}`)).not.toContain("AAAA");
  });

  it("redacts a Bearer authorization value", () => {
    expect(redactTokenLikeText("Authorization: Bearer abc.def")).toBe("Authorization: [redacted]");
  });

  it("redacts long base64url runs such as NSKs and session ids", () => {
    const nsk = "q2Jx9vT0aLm3Zp8YwE1RkS7uN4cB6dHfGiOjV5Xy_-A";
    expect(redactTokenLikeText(`nsk=${nsk}`)).toBe("nsk=[redacted]");
  });

  it("keeps UUIDs readable: request ids and node ids are not secrets", () => {
    const id = "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b";
    expect(redactTokenLikeText(`request ${id}`)).toBe(`request ${id}`);
  });

  it("redacts sensitive keys whatever their value looks like", () => {
    expect(redactLogValue({ headers: { authorization: "x", cookie: "sid=1" }, value: "plain" })).toEqual({
      headers: { authorization: "[redacted]", cookie: "[redacted]" },
      value: "[redacted]",
    });
  });

  it("redacts token-looking values nested in arrays and errors", () => {
    const redacted = redactLogValue({ list: [JWT], err: new Error(`bad ${JWT}`) });
    expect(JSON.stringify(redacted)).not.toContain("eyJ");
  });
});
