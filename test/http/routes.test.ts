import { describe, expect, it } from "vitest";
import { openApiPath } from "../../src/http/routes.ts";
import { PROBLEM_CODES } from "../../src/http/problem-codes.ts";

describe("routes", () => {
  it("turns express parameters into OpenAPI templates", () => {
    expect(openApiPath("/v1/domains/:domain/secrets/:name")).toBe("/v1/domains/{domain}/secrets/{name}");
  });
});

describe("problem codes", () => {
  it("gives every code a 4xx or 5xx status and a title", () => {
    for (const [code, { status, title }] of Object.entries(PROBLEM_CODES)) {
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(status, code).toBeLessThan(600);
      expect(title.length, code).toBeGreaterThan(0);
    }
  });
});
