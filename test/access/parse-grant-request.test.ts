import { describe, expect, it } from "vitest";
import { DEFAULT_GRANT_TTL_SECONDS, MAX_GRANT_TTL_SECONDS, parseGrantRequest } from "../../src/access/issue-grant.ts";
import { CustosError } from "../../src/platform/errors.ts";

const NODE = "0b6f4c1e-5a4e-4b8e-9d1e-2f3a4b5c6d7e";

function refusal(body: unknown): string | undefined {
  try {
    parseGrantRequest(body);
  } catch (error) {
    if (error instanceof CustosError) return `${error.code}: ${error.detail ?? ""}`;
    throw error;
  }
  return undefined;
}

describe("parseGrantRequest", () => {
  it("accepts a grant request and defaults its lifetime", () => {
    expect(parseGrantRequest({ node_id: NODE, action: "ssh.login" })).toEqual({ nodeId: NODE, action: "ssh.login", ttlSeconds: DEFAULT_GRANT_TTL_SECONDS });
  });

  it("accepts a lifetime up to the bound and refuses one past it", () => {
    expect(parseGrantRequest({ node_id: NODE, action: "a", ttl_seconds: MAX_GRANT_TTL_SECONDS }).ttlSeconds).toBe(MAX_GRANT_TTL_SECONDS);
    expect(refusal({ node_id: NODE, action: "a", ttl_seconds: MAX_GRANT_TTL_SECONDS + 1 })).toMatch(/^invalid_request: ttl_seconds/);
  });

  it.each([
    [null, /JSON object/],
    [[], /JSON object/],
    [{ node_id: "not-a-uuid", action: "a" }, /node_id/],
    [{ node_id: NODE.toUpperCase(), action: "a" }, /node_id/],
    [{ node_id: NODE, action: "Has Spaces" }, /action/],
    [{ node_id: NODE, action: "a", ttl_seconds: 0 }, /ttl_seconds/],
    [{ node_id: NODE, action: "a", ttl_seconds: 1.5 }, /ttl_seconds/],
    [{ node_id: NODE, action: "a", ttl_seconds: "60" }, /ttl_seconds/],
    [{ node_id: NODE, action: "a", admin: true }, /unknown member\(s\): admin$/],
  ])("refuses %j with invalid_request naming the problem", (body, pattern) => {
    const message = refusal(body);
    expect(message).toMatch(/^invalid_request: /);
    expect(message).toMatch(pattern);
  });
});
