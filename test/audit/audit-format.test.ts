import { createHash, createPrivateKey, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { keysVerifier, parseAuditJwks } from "../../src/audit/audit-jwks.ts";
import { canonicalRecordText, chainRecord, genesisHash, type ChainedAuditRecord } from "../../src/audit/audit-record.ts";
import { auditKeyId, createKeyObjectSigner } from "../../src/audit/audit-signer.ts";
import { parseCheckpoint, signDocument, signedBytes, verifyDocumentSignature } from "../../src/audit/checkpoints.ts";

/**
 * docs/audit-format.md's test vectors, read from the document's text and recomputed with the
 * code: a change to either that the other does not follow fails here.
 */
const DOC = readFileSync(new URL("../../docs/audit-format.md", import.meta.url), "utf8");

/** The code block after `<!-- vector: name -->`, exactly (no trailing newline). */
function vector(name: string): string {
  const marker = `<!-- vector: ${name} -->\n\`\`\`\n`;
  const start = DOC.indexOf(marker);
  if (start < 0) throw new Error(`docs/audit-format.md has no vector ${name}`);
  const from = start + marker.length;
  const end = DOC.indexOf("\n```", from);
  return DOC.slice(from, end);
}

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, Buffer.from(vector("seed"), "hex")]), format: "der", type: "pkcs8" });
const signer = createKeyObjectSigner(privateKey);
const records = vector("segment").split("\n").map((line) => JSON.parse(line) as ChainedAuditRecord);

describe("the audit format document's test vectors", () => {
  it("derive the key id from the SubjectPublicKeyInfo as documented, and publish it under that kid", () => {
    const spki = signer.publicKey.export({ type: "spki", format: "der" });
    expect(spki.toString("hex")).toBe(vector("spki-der"));
    expect(createHash("sha256").update(spki).digest("base64url").slice(0, 22)).toBe(vector("key-id"));
    expect(auditKeyId(signer.publicKey)).toBe(vector("key-id"));
    const [published] = parseAuditJwks(JSON.parse(vector("jwks")));
    expect(published?.keyId).toBe(vector("key-id"));
    expect(published?.publicKey.export({ type: "spki", format: "der" }).toString("hex")).toBe(vector("spki-der"));
  });

  it("hash three records from the chain's genesis to the documented canonical bytes and hashes", () => {
    expect(genesisHash("acme")).toBe(vector("genesis"));
    expect(records).toHaveLength(3);
    let prev = vector("genesis");
    records.forEach((record, index) => {
      const n = String(index + 1);
      expect(record.prev_hash).toBe(prev);
      expect(canonicalRecordText(record)).toBe(vector(`canonical-${n}`));
      // The documented rule, written out: SHA-256(raw prev_hash bytes ‖ UTF-8 canonical text).
      const byTheDocument = createHash("sha256").update(Buffer.from(prev, "hex")).update(Buffer.from(vector(`canonical-${n}`), "utf8")).digest("hex");
      expect(byTheDocument).toBe(vector(`hash-${n}`));
      expect(chainRecord({ ...record, hash: undefined } as unknown as ChainedAuditRecord).hash).toBe(vector(`hash-${n}`));
      expect(record.hash).toBe(vector(`hash-${n}`));
      prev = record.hash;
    });
  });

  it("sign the checkpoint over the documented signing input, deterministically, and verify it with the key set alone", async () => {
    const checkpoint = parseCheckpoint(JSON.parse(vector("checkpoint")));
    expect(signedBytes(checkpoint).toString("utf8")).toBe(vector("checkpoint-signing-input"));
    expect(sign(null, Buffer.from(vector("checkpoint-signing-input"), "utf8"), privateKey).toString("base64url")).toBe(checkpoint.signature);
    const unsigned = { format: checkpoint.format, chain: checkpoint.chain, seq: checkpoint.seq, hash: checkpoint.hash, at: checkpoint.at, signed_at: checkpoint.signed_at };
    expect(await signDocument(signer, unsigned)).toEqual(checkpoint);
    expect(checkpoint).toMatchObject({ seq: 3, hash: vector("hash-3"), at: records[2]?.at, key_id: vector("key-id") });
    const verifier = keysVerifier(parseAuditJwks(JSON.parse(vector("jwks"))));
    expect(await verifyDocumentSignature(verifier, checkpoint)).toBe(true);
    expect(await verifyDocumentSignature(verifier, { ...checkpoint, seq: 2 })).toBe(false);
  });

  it("sign the manifest over the documented signing input, listing the segment by the SHA-256 of its bytes", async () => {
    const manifest = JSON.parse(vector("manifest")) as Record<string, unknown> & { segments: { sha256: string; last_hash: string }[]; signature: string };
    expect(createHash("sha256").update(`${vector("segment")}\n`, "utf8").digest("hex")).toBe(manifest.segments[0]?.sha256);
    expect(manifest.segments[0]?.last_hash).toBe(vector("hash-3"));
    expect(signedBytes(manifest).toString("utf8")).toBe(vector("manifest-signing-input"));
    expect(sign(null, Buffer.from(vector("manifest-signing-input"), "utf8"), privateKey).toString("base64url")).toBe(manifest.signature);
    const verifier = keysVerifier(parseAuditJwks(JSON.parse(vector("jwks"))));
    expect(await verifyDocumentSignature(verifier, manifest)).toBe(true);
  });

  it("refuse a signature dated outside the key's validity, as the document says", async () => {
    const checkpoint = parseCheckpoint(JSON.parse(vector("checkpoint")));
    const retiredBefore = { keys: [{ ...(JSON.parse(vector("jwks")) as { keys: object[] }).keys[0], status: "retired", valid_until: "2025-02-01T00:00:00.000Z" }] };
    expect(await verifyDocumentSignature(keysVerifier(parseAuditJwks(retiredBefore)), checkpoint)).toBe(false);
  });
});
