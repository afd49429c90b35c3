import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { chainRecord, genesisHash, type ChainedAuditRecord } from "../../src/audit/audit-record.ts";
import { createKeyObjectSigner } from "../../src/audit/audit-signer.ts";
import { MirrorIntegrityError, verifyChain } from "../../src/audit/audit-verifier.ts";
import { CHECKPOINT_FORMAT, signDocument, type SignedCheckpoint } from "../../src/audit/checkpoints.ts";

function buildChain(chain: string, count: number): ChainedAuditRecord[] {
  const records: ChainedAuditRecord[] = [];
  let prev = genesisHash(chain);
  for (let seq = 1; seq <= count; seq += 1) {
    const record = chainRecord({
      chain, seq, at: "2026-11-23T10:00:00.000Z", actor: "node:n1", action: "secret.read", resource: `secret:${chain}/s`,
      decision: "granted", reason: "ok", request_id: `r${String(seq)}`, details: { seq }, prev_hash: prev,
    });
    records.push(record);
    prev = record.hash;
  }
  return records;
}

async function* stream<T>(items: readonly T[], failAt?: { index: number; error: Error }): AsyncGenerator<T> {
  await Promise.resolve();
  for (const [index, item] of items.entries()) {
    if (failAt?.index === index) throw failAt.error;
    yield item;
  }
}

/** The chain as the store streams it: pages (of three here, so failures fall inside and across pages). */
async function* pages(records: readonly ChainedAuditRecord[], size = 3): AsyncGenerator<readonly ChainedAuditRecord[]> {
  await Promise.resolve();
  for (let start = 0; start < records.length; start += size) yield records.slice(start, start + size);
}

const signer = createKeyObjectSigner(generateKeyPairSync("ed25519").privateKey);

async function checkpointAt(record: ChainedAuditRecord): Promise<SignedCheckpoint> {
  return signDocument(signer, { format: CHECKPOINT_FORMAT, chain: record.chain, seq: record.seq, hash: record.hash, at: record.at, signed_at: record.at });
}

describe("verifyChain", () => {
  it("accepts an intact chain and reports its head", async () => {
    const records = buildChain("acme", 10);
    const report = await verifyChain({ chain: "acme", records: pages(records) });
    expect(report).toMatchObject({ ok: true, rows_checked: 10, head: { seq: 10, hash: records[9]?.hash } });
  });

  it("accepts an empty chain, and a seq-0 checkpoint of its genesis", async () => {
    const checkpoint = await signDocument(signer, { format: CHECKPOINT_FORMAT, chain: "acme", seq: 0, hash: genesisHash("acme"), at: null, signed_at: "x" });
    expect(await verifyChain({ chain: "acme", records: pages([]), checkpoint, signer })).toMatchObject({ ok: true, rows_checked: 0, head: null });
  });

  it("names a gap at the first missing seq", async () => {
    const records = buildChain("acme", 6).filter((r) => r.seq !== 4);
    expect((await verifyChain({ chain: "acme", records: pages(records) })).failure).toMatchObject({ kind: "gap", seq: 4 });
  });

  it("names a broken link where prev_hash is not the previous hash", async () => {
    const records = buildChain("acme", 6);
    records[3] = chainRecord({ ...buildChain("acme", 6)[3]!, prev_hash: "a".repeat(64) });
    expect((await verifyChain({ chain: "acme", records: pages(records) })).failure).toMatchObject({ kind: "broken_link", seq: 4 });
  });

  it("names a hash mismatch where the content does not hash to the stored hash", async () => {
    const records = buildChain("acme", 6);
    records[2] = { ...records[2]!, reason: "rewritten" };
    expect((await verifyChain({ chain: "acme", records: pages(records) })).failure).toMatchObject({ kind: "hash_mismatch", seq: 3 });
  });

  it("refuses rows of another chain presented as this one's", async () => {
    const records = buildChain("other", 2);
    expect((await verifyChain({ chain: "acme", records: pages(records) })).ok).toBe(false);
  });

  it("names a checkpoint mismatch at the checkpoint's seq, and past the end of a rolled-back chain", async () => {
    const records = buildChain("acme", 8);
    const checkpoint = await checkpointAt(records[7]!);
    const recomputed = buildChain("acme", 8).map((r) => r); // same content: must pass
    expect((await verifyChain({ chain: "acme", records: pages(recomputed), checkpoint, signer })).ok).toBe(true);
    const forged = await signDocument(signer, { ...checkpoint, hash: "b".repeat(64) });
    expect((await verifyChain({ chain: "acme", records: pages(records), checkpoint: forged, signer })).failure).toMatchObject({ kind: "checkpoint_mismatch", seq: 8 });
    expect((await verifyChain({ chain: "acme", records: pages(records.slice(0, 5)), checkpoint, signer })).failure).toMatchObject({ kind: "checkpoint_mismatch", seq: 8 });
  });

  it("names a bad signature before reading a row, and without a key to check it with", async () => {
    const records = buildChain("acme", 3);
    const checkpoint = { ...(await checkpointAt(records[2]!)), seq: 2 };
    expect((await verifyChain({ chain: "acme", records: pages(records), checkpoint, signer })).failure).toMatchObject({ kind: "bad_signature", seq: 2 });
    expect((await verifyChain({ chain: "acme", records: pages(records), checkpoint: await checkpointAt(records[2]!) })).failure).toMatchObject({ kind: "bad_signature" });
  });

  it("names mirror divergence at the first differing row, and a mirror longer than the chain", async () => {
    const records = buildChain("acme", 5);
    const mirror = buildChain("acme", 5);
    mirror[2] = { ...mirror[2]!, details: { seq: 99 } };
    expect((await verifyChain({ chain: "acme", records: pages(records), mirror: stream(mirror) })).failure).toMatchObject({ kind: "mirror_divergence", seq: 3 });
    expect((await verifyChain({ chain: "acme", records: pages(records.slice(0, 3)), mirror: stream(buildChain("acme", 5)) })).failure).toMatchObject({ kind: "mirror_divergence", seq: 4 });
    expect((await verifyChain({ chain: "acme", records: pages(records), mirror: stream(records.slice(0, 2)) }))).toMatchObject({ ok: true, mirror: { rows_compared: 2 } });
  });

  it("stops at the first mirror divergence: the checkpoint counts as checked only if its row came first", async () => {
    const records = buildChain("acme", 8);
    const checkpoint = await checkpointAt(records[4]!);
    const divergingAt = (index: number) => records.map((record, i) => (i === index ? { ...record, reason: "edited" } : record));
    const before = await verifyChain({ chain: "acme", records: pages(records), checkpoint, signer, mirror: stream(divergingAt(3)) });
    expect(before).toMatchObject({ rows_checked: 3, head: { seq: 3 }, checkpoint: { seq: 5, checked: false }, failure: { kind: "mirror_divergence", seq: 4 } });
    const at = await verifyChain({ chain: "acme", records: pages(records), checkpoint, signer, mirror: stream(divergingAt(4)) });
    expect(at).toMatchObject({ rows_checked: 4, checkpoint: { checked: true }, failure: { kind: "mirror_divergence", seq: 5 } });
  });

  it("reports a mirror's own integrity failure with its kind and seq", async () => {
    const records = buildChain("acme", 5);
    const mirror = stream(records, { index: 2, error: new MirrorIntegrityError("bad_signature", 5, "manifest") });
    expect((await verifyChain({ chain: "acme", records: pages(records), mirror })).failure).toMatchObject({ kind: "bad_signature", seq: 5 });
  });

  it("reports progress as it goes", async () => {
    const seen: number[] = [];
    await verifyChain({ chain: "acme", records: pages(buildChain("acme", 10)), progressEvery: 4, onProgress: (n) => seen.push(n) });
    expect(seen).toEqual([4, 8]);
  });
});
