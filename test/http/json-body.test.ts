import { describe, expect, it } from "vitest";
import { charsetOf, isJsonMediaType, parseJsonBody } from "../../src/http/json-body.ts";

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe("the JSON body reader's pure parts", () => {
  it.each(["application/json", "Application/JSON; charset=utf-8", "application/merge-patch+json", "application/problem+json"])("reads %s as JSON", (type) => {
    expect(isJsonMediaType(type)).toBe(true);
  });

  it.each([undefined, "text/plain", "application/x-www-form-urlencoded", "application/+json", "application/a/b+json", "text/json"])("leaves %s unread", (type) => {
    expect(isJsonMediaType(type)).toBe(false);
  });

  it("finds the charset parameter, quoted or not", () => {
    expect(charsetOf("application/json; charset=UTF-8")).toBe("utf-8");
    expect(charsetOf('application/json;charset="latin1"')).toBe("latin1");
    expect(charsetOf("application/json")).toBeUndefined();
  });

  it("parses objects and arrays, and an empty body as {}", () => {
    expect(parseJsonBody(Buffer.from(' {"a":[1]} '))).toEqual({ a: [1] });
    expect(parseJsonBody(Buffer.from("[]"))).toEqual([]);
    expect(parseJsonBody(Buffer.alloc(0))).toEqual({});
  });

  it.each([
    ["a top-level scalar", Buffer.from("42")],
    ["broken JSON", Buffer.from("{not json")],
    ["bytes that are not UTF-8", Buffer.from([0x7b, 0xff, 0x7d])],
  ])("refuses %s with malformed_body", (_label, bytes) => {
    expect(codeOf(() => parseJsonBody(bytes))).toBe("malformed_body");
  });
});
