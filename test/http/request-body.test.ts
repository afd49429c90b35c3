import { describe, expect, it } from "vitest";
import { jsonObjectBody } from "../../src/http/request-body.ts";
import { CustosError } from "../../src/platform/errors.ts";

function detailOf(body: unknown, members: readonly string[]): string | undefined {
  try {
    jsonObjectBody(body, members);
  } catch (error) {
    if (error instanceof CustosError && error.code === "invalid_request") return error.detail;
    throw error;
  }
  return undefined;
}

describe("jsonObjectBody", () => {
  it("returns an object holding only known members, some possibly absent", () => {
    expect(jsonObjectBody({ name: "web-1" }, ["name", "tags"])).toEqual({ name: "web-1" });
  });

  it.each([null, [], "text", 3])("refuses %j: the body must be a JSON object", (body) => {
    expect(detailOf(body, ["name"])).toBe("the body must be a JSON object");
  });

  it("refuses unknown members, naming every one", () => {
    expect(detailOf({ name: "a", nmae: "b", admin: true }, ["name"])).toBe("unknown member(s): nmae, admin");
  });
});
