import { describe, expect, it } from "vitest";
import { parseChainName, parseDomainId, parseNodeId, parseSecretName } from "../../src/platform/names.ts";

function codeOf(parse: () => unknown): string | undefined {
  try {
    parse();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe("names", () => {
  it.each(["acme", "a", "a-1", "0day", "x".repeat(63)])("accepts the domain id %s", (id) => {
    expect(parseDomainId(id)).toBe(id);
  });

  it.each(["", "-acme", "Acme", "acme_corp", "x".repeat(64), "acme/..", "platform", "a\u0000"])("refuses the domain id %j", (id) => {
    expect(codeOf(() => parseDomainId(id))).toBe("invalid_name");
  });

  it("accepts platform only as a chain name", () => {
    expect(parseChainName("platform")).toBe("platform");
    expect(parseChainName("acme")).toBe("acme");
    expect(codeOf(() => parseChainName("Platform"))).toBe("invalid_name");
  });

  it.each(["db-password", "a", "tls.key", "A_b-c.d", "x".repeat(128)])("accepts the secret name %s", (name) => {
    expect(parseSecretName(name)).toBe(name);
  });

  it.each(["", ".hidden", "../etc/passwd", "a/b", "a b", "x".repeat(129), "é"])("refuses the secret name %j", (name) => {
    expect(codeOf(() => parseSecretName(name))).toBe("invalid_name");
  });

  it("accepts a lowercase UUID node id and refuses anything else", () => {
    expect(parseNodeId("3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b")).toBe("3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b");
    expect(codeOf(() => parseNodeId("3F2B8C1E-9A4D-4E6F-8B7A-1C2D3E4F5A6B"))).toBe("invalid_name");
    expect(codeOf(() => parseNodeId("node-1"))).toBe("invalid_name");
    expect(codeOf(() => parseNodeId(42))).toBe("invalid_name");
  });
});
