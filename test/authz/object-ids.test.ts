import { describe, expect, it } from "vitest";
import {
  decodeObjectId,
  encodeObjectId,
  MAX_OBJECT_ID_LENGTH,
  parseObjectId,
  secretRef,
  unescapeComponent,
  userRef,
} from "../../src/authz/object-ids.ts";
import { domainSubject } from "../../src/identity/domains/domain.ts";

const SPICEDB_OBJECT_ID = /^[a-zA-Z0-9/_|\-=+]+$/;

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

/** A small deterministic PRNG (mulberry32), so a failure reproduces. */
function prng(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Characters chosen to hit every branch: plain, the escape and separator characters, SpiceDB's
// other allowed punctuation, the wildcard, multi-byte and astral code points.
const ALPHABET = ["a", "Z", "0", "_", "-", "=", "/", "|", "+", "*", ":", "@", ".", " ", "%", "é", "\u00ff", "€", "\uFFFD", "😀", "\u0000"];

function randomString(next: () => number, maxLength: number): string {
  const length = 1 + Math.floor(next() * maxLength);
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHABET[Math.floor(next() * ALPHABET.length)]!;
  return out;
}

describe("SpiceDB object ids", () => {
  it("leaves [A-Za-z0-9_-] as it is", () => {
    expect(encodeObjectId(["Az09_-"])).toBe("Az09_-");
    expect(encodeObjectId(["3f2c1a6e-0d4b-4e8f-9a1b-2c3d4e5f6a7b"])).toBe("3f2c1a6e-0d4b-4e8f-9a1b-2c3d4e5f6a7b");
  });

  it.each([
    ["=", "=3D"],
    ["/", "=2F"],
    ["*", "=2A"],
    ["|", "=7C"],
    ["+", "=2B"],
    ["a@b.c", "a=40b=2Ec"],
    ["é", "=C3=A9"],
    ["😀", "=F0=9F=98=80"],
  ])("escapes %j as %s", (input, encoded) => {
    expect(encodeObjectId([input])).toBe(encoded);
  });

  it("encodes subjects whose sub holds anything into SpiceDB's alphabet", () => {
    const id = userRef(domainSubject("acme", "alice@example.com/../*")).id;
    expect(id).toBe("oidc=3Aacme=3Aalice=40example=2Ecom=2F=2E=2E=2F=2A");
    expect(id).toMatch(SPICEDB_OBJECT_ID);
  });

  it("never yields the wildcard", () => {
    expect(userRef("*").id).not.toBe("*");
  });

  it("places / only between components", () => {
    expect(secretRef("acme", "db.password").id).toBe("acme/db=2Epassword");
    expect(encodeObjectId(["a", "b"])).not.toBe(encodeObjectId(["a/b"]));
    expect(encodeObjectId(["a/b"])).not.toBe(encodeObjectId(["a=2Fb"]));
    expect(decodeObjectId(encodeObjectId(["a/b", "c"]))).toEqual(["a/b", "c"]);
  });

  // (domainSubject itself is injective only because a domain id cannot hold ':'.)
  it("keeps look-alike subjects apart", () => {
    const ids = [
      domainSubject("acme", "a@b"),
      domainSubject("acme", "a=40b"),
      domainSubject("acme", "a:b"),
      domainSubject("acme", "a=3Ab"),
    ].map((subject) => userRef(subject).id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("round-trips and stays injective over many random component lists", () => {
    const next = prng(20240611);
    const seen = new Map<string, string>();
    for (let i = 0; i < 5000; i++) {
      const parts = Array.from({ length: 1 + Math.floor(next() * 3) }, () => randomString(next, 12));
      const id = encodeObjectId(parts);
      expect(id).toMatch(SPICEDB_OBJECT_ID);
      expect(decodeObjectId(id)).toEqual(parts);
      const input = JSON.stringify(parts);
      const earlier = seen.get(id);
      if (earlier !== undefined) expect(earlier).toBe(input);
      seen.set(id, input);
    }
  });

  it("distinguishes U+FFFD from a lone surrogate by refusing the latter", () => {
    expect(decodeObjectId(encodeObjectId(["\uFFFD"]))).toEqual(["\uFFFD"]);
    expect(codeOf(() => encodeObjectId(["\uD800"]))).toBe("invalid_name");
    expect(codeOf(() => encodeObjectId(["a\uDC00b"]))).toBe("invalid_name");
  });

  it("refuses empty components and empty lists", () => {
    expect(codeOf(() => encodeObjectId([]))).toBe("invalid_name");
    expect(codeOf(() => encodeObjectId([""]))).toBe("invalid_name");
    expect(codeOf(() => secretRef("acme", ""))).toBe("invalid_name");
  });

  it("fits the longest OIDC sub (255 ASCII characters, all escaped) and refuses past 1024", () => {
    const worstSub = "@".repeat(255);
    expect(userRef(domainSubject("d".repeat(63), worstSub)).id.length).toBeLessThanOrEqual(MAX_OBJECT_ID_LENGTH);
    expect(encodeObjectId(["a".repeat(MAX_OBJECT_ID_LENGTH)])).toHaveLength(MAX_OBJECT_ID_LENGTH);
    expect(codeOf(() => encodeObjectId(["a".repeat(MAX_OBJECT_ID_LENGTH + 1)]))).toBe("invalid_name");
    expect(codeOf(() => encodeObjectId(["@".repeat(342)]))).toBe("invalid_name");
  });

  it.each([
    ["=41", "escapes a plain character"],
    ["=2f", "lowercase hex"],
    ["=2", "truncated escape"],
    ["a=", "dangling escape"],
    ["=FF", "not UTF-8"],
    ["=C0=80", "overlong UTF-8"],
    ["é", "a raw non-ASCII character"],
    ["a.b", "a raw character that must be escaped"],
    ["", "empty"],
  ])("decoding refuses %j (%s)", (id) => {
    expect(codeOf(() => unescapeComponent(id))).toBe("invalid_name");
  });

  it("accepts back only ids in SpiceDB's alphabet and our canonical form", () => {
    expect(parseObjectId("acme/db=2Epassword")).toBe("acme/db=2Epassword");
    expect(codeOf(() => parseObjectId("*"))).toBe("invalid_name");
    expect(codeOf(() => parseObjectId("a|b"))).toBe("invalid_name");
    expect(codeOf(() => parseObjectId("a//b"))).toBe("invalid_name");
    expect(codeOf(() => parseObjectId("x".repeat(MAX_OBJECT_ID_LENGTH + 1)))).toBe("invalid_name");
  });
});
