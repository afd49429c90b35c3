import { describe, expect, it } from "vitest";
import { chainRecord, genesisHash, type AuditRecord, type ChainedAuditRecord } from "../../src/audit/audit-record.ts";
import { FIELD_SEPARATOR, parsePage, RECORD_SEPARATOR } from "../../src/audit/audit-store.ts";
import { checkRows, type CheckpointMark } from "../../src/audit/audit-verifier.ts";
import { checkIntactPage, checkPageText } from "../../src/audit/page-text-check.ts";
import { awkwardObject, awkwardString, jsonbText, randomSource } from "./awkward-values.ts";

/** One row as readPageText's SQL writes it, details as jsonb text. */
function rowText(r: ChainedAuditRecord, details = jsonbText(r.details)): string {
  return [r.chain, r.seq, r.at, r.actor, r.action, r.resource, r.decision, r.reason, r.request_id, r.prev_hash, r.hash, details].join(FIELD_SEPARATOR);
}

function pageText(records: readonly ChainedAuditRecord[]): string {
  return records.map((record) => rowText(record)).join(RECORD_SEPARATOR);
}

/** A valid chain whose records are shaped by `shape` (hashed by chainRecord, the reference). */
function chainOf(count: number, shape: (index: number) => Partial<AuditRecord> = () => ({})): ChainedAuditRecord[] {
  let prev = genesisHash("acme");
  return Array.from({ length: count }, (_, index) => {
    const record = chainRecord({
      chain: "acme", seq: index + 1, at: "2026-11-30T08:00:00.000Z", actor: `node:n${String(index)}`, action: "secret.read",
      resource: "secret:acme/s", decision: "granted", reason: "ok", request_id: `r${String(index)}`, details: { kid: "k1", version: 3 },
      prev_hash: prev, ...shape(index),
    });
    prev = record.hash;
    return record;
  });
}

/** A chain with awkward values in every free text field and in details. */
function awkwardChain(seed: number, count: number): ChainedAuditRecord[] {
  const random = randomSource(seed);
  // The appender refuses the separators in text fields (awkward strings hold no lone surrogate).
  const text = () => `${awkwardString(random)}x`.replaceAll(FIELD_SEPARATOR, "").replaceAll(RECORD_SEPARATOR, "");
  return chainOf(count, () => ({ actor: text(), action: text(), resource: text(), reason: text(), request_id: text(), details: JSON.parse(JSON.stringify(awkwardObject(random))) as Record<string, unknown> }));
}

/** Whether the shortcut alone passed the page (it may also give up by throwing). */
function shortcutPasses(chain: string, text: string): boolean {
  try {
    return checkIntactPage(chain, text, undefined) !== undefined;
  } catch {
    return false;
  }
}

const expectSameAsReference = (chain: string, text: string, checkpoint?: CheckpointMark) => {
  expect(checkPageText(chain, text, checkpoint)).toEqual(checkRows(chain, parsePage(text), checkpoint));
};

describe("checkPageText", () => {
  it("passes an intact page through the shortcut, with checkRows's outcome", () => {
    const page = chainOf(50);
    const text = pageText(page);
    const intact = checkIntactPage("acme", text, undefined);
    expect(intact).toEqual(checkRows("acme", page, undefined));
    expect(intact).toMatchObject({ passed: 50, failure: null, last: { seq: 50, hash: page[49]?.hash, at: page[49]?.at } });
  });

  it("writes the reference's canonical bytes for awkward values: the shortcut accepts every honest row", () => {
    for (let seed = 1; seed <= 40; seed += 1) {
      const page = awkwardChain(seed, 25);
      const text = pageText(page);
      expect(checkIntactPage("acme", text, undefined), `seed ${String(seed)}`).toEqual(checkRows("acme", page, undefined));
    }
  });

  it("reads flat details in place and parses the rest, to the same bytes", () => {
    const shapes: Record<string, unknown>[] = [
      {}, { kid: "k1", version: 3 }, { b: true, a: null, n: -12, z: "é ✓ \u{1F600}" }, { "\u{1F600}": 1, "\uFFFF": 2 },
      { long_key_first: 1, a: 2 }, { n: 1e21 }, { n: 0.5 }, { n: -0 }, { n: 123456789012345 }, { n: 1234567890123456 },
      { nested: { b: 1, a: [1, "x"] } }, { q: "say \"hi\"\n" }, { "": "" },
    ];
    const page = chainOf(shapes.length, (index) => ({ details: shapes[index] }));
    expect(checkIntactPage("acme", pageText(page), undefined)).toEqual(checkRows("acme", page, undefined));
  });

  it("never passes a row whose content changed: the outcome is checkRows's", () => {
    const page = chainOf(10);
    const changes: ((r: ChainedAuditRecord) => string)[] = [
      (r) => rowText({ ...r, actor: `${r.actor}x` }),
      (r) => rowText({ ...r, at: "2026-11-30T08:00:00.001Z" }),
      (r) => rowText({ ...r, chain: "other" }),
      (r) => rowText({ ...r, decision: "denied" }),
      (r) => rowText(r, '{"kid": "k1", "version": 4}'),
      (r) => rowText(r, '{"version": 3.5, "kid": "k1"}'),
      (r) => rowText({ ...r, hash: r.hash.toUpperCase() }),
      (r) => rowText({ ...r, prev_hash: "0".repeat(64) }),
      (r) => rowText(r).split(FIELD_SEPARATOR).slice(0, 11).join(FIELD_SEPARATOR),
    ];
    for (const change of changes) {
      const text = page.map((record) => (record.seq === 6 ? change(record) : rowText(record))).join(RECORD_SEPARATOR);
      expect(shortcutPasses("acme", text)).toBe(false);
      expectSameAsReference("acme", text);
      expect(checkPageText("acme", text, undefined).failure).not.toBeNull();
    }
  });

  it("leaves a lone surrogate (which the database never sends) to checkRows, even where UTF-8 would hide it", () => {
    // U+FFFD is what a lone surrogate becomes in UTF-8: the row's hash matches those bytes.
    const [record] = chainOf(1, () => ({ details: { a: "\uFFFD" } }));
    const text = rowText(record!, '{"a": "\ud800"}');
    expect(shortcutPasses("acme", text)).toBe(false);
    expect(() => checkRows("acme", parsePage(text), undefined)).toThrow();
    expect(() => checkPageText("acme", text, undefined)).toThrow();
  });

  it("leaves a seq it would not write back the same way to checkRows (which reads 06 as 6)", () => {
    const page = chainOf(10);
    const text = page.map((r) => rowText(r).replace(`${FIELD_SEPARATOR}${String(r.seq)}${FIELD_SEPARATOR}`, `${FIELD_SEPARATOR}0${String(r.seq)}${FIELD_SEPARATOR}`)).join(RECORD_SEPARATOR);
    expect(checkIntactPage("acme", text, undefined)).toBeUndefined();
    expectSameAsReference("acme", text);
  });

  it("leaves gaps, broken links, reordered rows and checkpoints to checkRows", () => {
    const page = chainOf(10);
    const without = (seq: number) => page.filter((record) => record.seq !== seq);
    const cases: [string, CheckpointMark | undefined][] = [
      [pageText(without(4)), undefined],
      [pageText([...page.slice(0, 5), ...chainOf(10, () => ({ prev_hash: "f".repeat(64) })).slice(5)]), undefined],
      [pageText([page[1]!, page[0]!, ...page.slice(2)]), undefined],
      [pageText(page), { seq: 4, hash: page[3]!.hash }],
      [pageText(page), { seq: 4, hash: page[4]!.hash }],
      [pageText(page), { seq: 40, hash: page[3]!.hash }],
      [pageText(page.slice(3)), undefined],
      [`${pageText(page)}${RECORD_SEPARATOR}`, undefined],
      ["", undefined],
    ];
    for (const [text, checkpoint] of cases) expectSameAsReference("acme", text, checkpoint);
    expect(checkPageText("acme", pageText(page), { seq: 4, hash: page[3]!.hash })).toMatchObject({ checkpointReached: true, failure: null });
    expect(checkPageText("acme", pageText(page), { seq: 4, hash: page[4]!.hash }).failure).toMatchObject({ kind: "checkpoint_mismatch", seq: 4 });
    expect(checkPageText("acme", undefined, undefined)).toEqual(checkRows("acme", [], undefined));
  });
});
