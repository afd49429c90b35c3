import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { describe, expect, it } from "vitest";
import { canonicalRecordBytes, chainRecord, computeRecordHash, genesisHash, hashCanonicalRecord, type AuditRecord } from "../../src/audit/audit-record.ts";

const base: AuditRecord = {
  chain: "acme",
  seq: 1,
  at: "2026-11-23T10:00:00.000Z",
  actor: "user:oidc:acme:alice@example.com",
  action: "secret.read",
  resource: "secret:acme/db-password",
  decision: "granted",
  reason: "ok",
  request_id: "req-1",
  details: { kid: "k1", version: 3 },
  prev_hash: genesisHash("acme"),
};

describe("audit record hashing", () => {
  it.each([
    ["plain ASCII", base],
    ["unicode, quotes, backslashes and line breaks", { ...base, actor: 'user:oidc:acme:"zoë"\\\n\u2028', details: { "é": "✓", a: [1, 2.5, -0, 1e21], z: { y: null, b: true } } }],
    ["keys that sort differently by UTF-16 and by code point", { ...base, details: { "\u{1F600}": 1, "\uFFFF": 2, a: 3 } }],
    ["a large seq", { ...base, seq: 9_007_199_254_740_991 }],
  ])("writes the same RFC 8785 bytes as a general JCS implementation (%s)", (_label, record) => {
    const { ...unhashed } = record;
    expect(canonicalRecordBytes(record).toString("utf8")).toBe(canonicalize(unhashed));
  });

  it.each(Object.keys(base))("changes the hash when %s changes", (field) => {
    const original = computeRecordHash(base);
    const value = base[field as keyof AuditRecord];
    const changed =
      typeof value === "number" ? value + 1 : typeof value === "string" ? (field === "prev_hash" ? "f".repeat(64) : `${value}x`) : { ...value, extra: 1 };
    expect(computeRecordHash({ ...base, [field]: changed })).not.toBe(original);
  });

  it("derives a different genesis for every chain name", () => {
    expect(genesisHash("acme")).not.toBe(genesisHash("platform"));
    expect(genesisHash("acme")).toMatch(/^[0-9a-f]{64}$/);
  });

  it("chains: the stored hash is SHA-256 over the previous hash's bytes and the canonical record", () => {
    const record = chainRecord(base);
    expect(record.hash).toBe(computeRecordHash(base));
    expect(record.hash).not.toBe(computeRecordHash({ ...base, prev_hash: genesisHash("other") }));
  });

  it.each([
    ["ASCII", '{"a":"b"}'],
    ["multi-byte UTF-8", '{"a":"zoë ✓ \u{1F600}"}'],
    ["a record longer than the reused buffer", `{"a":"${"ü".repeat(20_000)}"}`],
  ])("hashes the previous hash's 32 bytes then the UTF-8 bytes, as text or bytes (%s)", (_label, text) => {
    const prev = genesisHash("acme");
    const expected = createHash("sha256").update(Buffer.from(prev, "hex")).update(Buffer.from(text, "utf8")).digest("hex");
    expect(hashCanonicalRecord(prev, text)).toBe(expected);
    expect(hashCanonicalRecord(prev, Buffer.from(text, "utf8"))).toBe(expected);
  });

  it("hashes a prev_hash that is not 64 hex digits as the general path always did", () => {
    for (const prev of ["zz".repeat(32), "ab", `${"a".repeat(63)}g`]) {
      expect(hashCanonicalRecord(prev, "{}")).toBe(createHash("sha256").update(prev, "hex").update("{}", "utf8").digest("hex"));
    }
  });
});
