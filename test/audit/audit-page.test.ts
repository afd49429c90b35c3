import { describe, expect, it } from "vitest";
import { chainRecord, genesisHash, type ChainedAuditRecord } from "../../src/audit/audit-record.ts";
import { FIELD_SEPARATOR, parsePage, RECORD_SEPARATOR } from "../../src/audit/audit-store.ts";

/** A page's text as readPageText's SQL writes it (concat_ws of the columns, string_agg of the rows). */
function pageText(records: readonly ChainedAuditRecord[]): string {
  return records
    .map((r) => [r.chain, r.seq, r.at, r.actor, r.action, r.resource, r.decision, r.reason, r.request_id, r.prev_hash, r.hash, JSON.stringify(r.details)].join(FIELD_SEPARATOR))
    .join(RECORD_SEPARATOR);
}

function records(count: number): ChainedAuditRecord[] {
  let prev = genesisHash("acme");
  return Array.from({ length: count }, (_, index) => {
    const record = chainRecord({
      chain: "acme", seq: index + 1, at: "2026-11-30T08:00:00.000Z", actor: "node:n1", action: "secret.read", resource: "secret:acme/s",
      decision: "granted", reason: "ok", request_id: `r${String(index)}`, details: { n: index, note: "ünïcode" }, prev_hash: prev,
    });
    prev = record.hash;
    return record;
  });
}

describe("parsePage", () => {
  it("reads back the records of a page's text", () => {
    const page = records(4);
    expect(parsePage(pageText(page))).toEqual(page);
    expect(parsePage(undefined)).toEqual([]);
  });

  it("puts rows the database sent out of seq order back in order (string_agg promises no order)", () => {
    const page = records(5);
    expect(parsePage(pageText([page[3]!, page[0]!, page[4]!, page[1]!, page[2]!]))).toEqual(page);
  });
});
