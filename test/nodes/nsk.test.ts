import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  bearerSecretDigest, deriveBearerSecret, deriveWrapKey, formatNodeBearer, newKid, newNsk, parseNodeBearer, parseNsk,
} from "../../src/nodes/nsk.ts";
import { unwrapOnNode, wrapForNode } from "../../src/secrets/wrap-for-node.ts";

/** RFC 5869 by hand (extract with an all-zero salt, one expand block), to check the derivation. */
function rfc5869(ikm: Buffer, info: string): Buffer {
  const prk = createHmac("sha256", Buffer.alloc(32)).update(ikm).digest();
  return createHmac("sha256", prk).update(Buffer.concat([Buffer.from(info), Buffer.from([1])])).digest();
}

describe("NSK derivations and the node bearer", () => {
  const nsk = Buffer.from("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "hex");

  it("derives bearer_secret and wrap_key with HKDF-SHA256, empty salt, the two info strings", () => {
    expect(deriveBearerSecret(nsk)).toEqual(rfc5869(nsk, "custos/v1/bearer"));
    expect(deriveWrapKey(nsk)).toEqual(rfc5869(nsk, "custos/v1/wrap"));
    expect(deriveBearerSecret(nsk)).not.toEqual(deriveWrapKey(nsk));
  });

  it("refuses an NSK that is not 32 bytes", () => {
    expect(() => deriveBearerSecret(Buffer.alloc(31))).toThrow(RangeError);
  });

  it("formats and parses nsk.<kid>.<base64url> round trip", () => {
    const kid = newKid();
    const secret = deriveBearerSecret(newNsk());
    const parsed = parseNodeBearer(formatNodeBearer(kid, secret));
    expect(parsed?.kid).toBe(kid);
    expect(parsed?.secret).toEqual(secret);
  });

  it.each([
    ["empty", ""],
    ["no prefix", `abcdefgh.${"A".repeat(43)}`],
    ["short kid", `nsk.abc.${"A".repeat(43)}`],
    ["short secret", `nsk.abcdefgh.${"A".repeat(42)}`],
    ["long secret", `nsk.abcdefgh.${"A".repeat(44)}`],
    ["padding", `nsk.abcdefgh.${"A".repeat(42)}=`],
    ["non-canonical last character", `nsk.abcdefgh.${"A".repeat(42)}B`],
    ["extra part", `nsk.abcdefgh.${"A".repeat(43)}.x`],
  ])("refuses a malformed bearer (%s)", (_label, token) => {
    expect(parseNodeBearer(token)).toBeUndefined();
  });

  it("keeps only a one-way digest of the bearer secret", () => {
    const secret = deriveBearerSecret(nsk);
    expect(bearerSecretDigest(secret)).toMatch(/^[0-9a-f]{64}$/);
    expect(bearerSecretDigest(secret)).not.toContain(secret.toString("hex"));
  });

  it("parses an NSK file's content and refuses anything else", () => {
    expect(parseNsk(`${nsk.toString("base64url")}\n`)).toEqual(nsk);
    expect(parseNsk("not an nsk")).toBeUndefined();
  });
});

describe("the JWE a node receives", () => {
  it("is compact, dir + A256GCM with the kid in the protected header, and decrypts only under the wrap_key", async () => {
    const wrapKey = deriveWrapKey(newNsk());
    const jwe = await wrapForNode(Buffer.from("hunter2"), wrapKey, "kid-12345");
    expect(jwe.split(".")).toHaveLength(5);
    expect(jwe.split(".")[1]).toBe("");
    const header = JSON.parse(Buffer.from(jwe.split(".")[0] ?? "", "base64url").toString()) as Record<string, unknown>;
    expect(header).toEqual({ alg: "dir", enc: "A256GCM", kid: "kid-12345" });
    expect((await unwrapOnNode(jwe, wrapKey, "kid-12345")).toString()).toBe("hunter2");
    await expect(unwrapOnNode(jwe, deriveWrapKey(newNsk()), "kid-12345")).rejects.toThrow();
    await expect(unwrapOnNode(jwe, wrapKey, "another-kid")).rejects.toThrow();
  });

  it("wraps each value under a fresh IV, and a header relabelled for another kid no longer decrypts", async () => {
    const wrapKey = deriveWrapKey(newNsk());
    const [first, second] = await Promise.all([wrapForNode(Buffer.from("hunter2"), wrapKey, "kid-12345"), wrapForNode(Buffer.from("hunter2"), wrapKey, "kid-12345")]);
    expect(first.split(".")[2]).not.toBe(second.split(".")[2]);
    expect(Buffer.from(first.split(".")[2] ?? "", "base64url")).toHaveLength(12);
    const relabelled = [Buffer.from(JSON.stringify({ alg: "dir", enc: "A256GCM", kid: "kid-other" })).toString("base64url"), ...first.split(".").slice(1)].join(".");
    await expect(unwrapOnNode(relabelled, wrapKey, "kid-other")).rejects.toThrow();
    await expect(wrapForNode(Buffer.from("x"), Buffer.alloc(16), "kid-12345")).rejects.toThrow(RangeError);
  });
});
