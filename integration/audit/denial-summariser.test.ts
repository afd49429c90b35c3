import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDenialRecorder, OVERFLOW_SOURCE, RESOURCE_SAMPLE_SIZE, type UnverifiedRefusal } from "../../src/audit/denial-recorder.ts";
import { createIsolatedStore, type IsolatedStore } from "../support/stores.ts";
import { appenderFor, event, migrated, rowsOf, verify } from "./audit-fixtures.ts";

describe("the denial recorder", () => {
  let store: IsolatedStore;
  beforeAll(async () => {
    store = await createIsolatedStore("pglite");
    await migrated(store.db);
  });
  afterAll(async () => {
    await store.dispose();
  });

  it("turns a flood of identical denials into the first record plus one summary with the count", async () => {
    const recorder = createDenialRecorder(appenderFor(store.db), { windowMs: 60_000 });
    const denial = event("flooded", 1, { decision: "denied", reason: "permission_denied", actor: "node:n1" });
    await Promise.all(Array.from({ length: 50 }, () => recorder.record(denial)));
    expect(await rowsOf(store.db, "flooded")).toHaveLength(1);
    await recorder.flush();
    const rows = await rowsOf(store.db, "flooded");
    expect(rows).toHaveLength(2);
    expect(rows[1]?.details).toMatchObject({ summarised_repeats: 49 });
    expect(await verify(store.db, "flooded")).toMatchObject({ ok: true });
  });

  it("keeps different denials apart: each distinct source or reason is recorded at once", async () => {
    const recorder = createDenialRecorder(appenderFor(store.db), { windowMs: 60_000 });
    await recorder.record(event("distinct", 1, { decision: "denied", reason: "permission_denied", actor: "node:a" }));
    await recorder.record(event("distinct", 2, { decision: "denied", reason: "permission_denied", actor: "node:b" }));
    await recorder.record(event("distinct", 3, { decision: "denied", reason: "node_quarantined", actor: "node:a" }));
    expect(await rowsOf(store.db, "distinct")).toHaveLength(3);
    await recorder.flush();
    expect(await rowsOf(store.db, "distinct")).toHaveLength(3);
  });

  const garbage = (chain: string, n: number, overrides: Partial<UnverifiedRefusal> = {}): UnverifiedRefusal => ({
    chain, action: "auth.authenticate", resource: `domain:random-${String(n)}`, reason: "malformed", requestId: `req-${String(n)}`, source: "198.51.100.7",
    ...overrides,
  });

  it("summarises refusals without a verified identity by (chain, action, reason, source), whatever resource the client chose", async () => {
    const recorder = createDenialRecorder(appenderFor(store.db), { windowMs: 60_000 });
    await Promise.all(Array.from({ length: 200 }, (_, n) => recorder.recordUnverified(garbage("unverified", n))));
    const during = await rowsOf(store.db, "unverified");
    expect(during).toHaveLength(1);
    expect(during[0]).toMatchObject({ actor: "anonymous", decision: "denied", reason: "malformed", resource: "domain:random-0", request_id: "req-0", details: { source: "198.51.100.7" } });
    await recorder.flush();
    const rows = await rowsOf(store.db, "unverified");
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ actor: "anonymous", resource: "domain:random-0", details: { source: "198.51.100.7", count: 200, summarised_repeats: 199 } });
    expect(rows[1]?.details.sampled_resources).toEqual(Array.from({ length: RESOURCE_SAMPLE_SIZE }, (_, n) => `domain:random-${String(n + 1)}`));
    expect(await verify(store.db, "unverified")).toMatchObject({ ok: true });
  });

  it("keeps each source address, and each reason, apart", async () => {
    const recorder = createDenialRecorder(appenderFor(store.db), { windowMs: 60_000 });
    await recorder.recordUnverified(garbage("sources", 1, { source: "198.51.100.1" }));
    await recorder.recordUnverified(garbage("sources", 2, { source: "198.51.100.2" }));
    await recorder.recordUnverified(garbage("sources", 3, { source: "198.51.100.1", reason: "no_credential" }));
    await recorder.recordUnverified(garbage("sources", 4, { source: "198.51.100.1" }));
    expect((await rowsOf(store.db, "sources")).map((row) => [row.reason, row.details.source])).toEqual([
      ["malformed", "198.51.100.1"], ["malformed", "198.51.100.2"], ["no_credential", "198.51.100.1"],
    ]);
    await recorder.flush();
    expect((await rowsOf(store.db, "sources")).at(-1)?.details).toMatchObject({ source: "198.51.100.1", count: 2 });
  });

  it("bounds the windows held in memory: sources beyond the bound fold into one overflow window per (chain, action, reason)", async () => {
    const recorder = createDenialRecorder(appenderFor(store.db), { windowMs: 60_000, maxOpenWindows: 3 });
    for (let n = 0; n < 100; n += 1) await recorder.recordUnverified(garbage("spread", n, { source: `203.0.113.${String(n)}` }));
    const during = await rowsOf(store.db, "spread");
    expect(during.map((row) => row.details.source)).toEqual(["203.0.113.0", "203.0.113.1", "203.0.113.2", OVERFLOW_SOURCE]);
    await recorder.flush();
    const overflowSummary = (await rowsOf(store.db, "spread")).at(-1);
    expect(overflowSummary?.details).toMatchObject({ source: OVERFLOW_SOURCE, count: 97 });
    expect(await rowsOf(store.db, "spread")).toHaveLength(5);
  });

  it("keeps verified actors' windows apart from the anonymous flood's: distinct sources cannot crowd them out", async () => {
    const recorder = createDenialRecorder(appenderFor(store.db), { windowMs: 60_000, maxOpenWindows: 1 });
    for (let n = 0; n < 10; n += 1) await recorder.recordUnverified(garbage("crowding", n, { source: `203.0.113.${String(n)}` }));
    for (let n = 0; n < 10; n += 1) await recorder.record(event("crowding", n, { decision: "denied", reason: "permission_denied", actor: "node:a" }));
    expect((await rowsOf(store.db, "crowding")).map((row) => row.actor)).toEqual(["anonymous", "anonymous", "node:a"]);
    await recorder.flush();
    expect((await rowsOf(store.db, "crowding")).filter((row) => row.actor === "node:a").at(-1)?.details).toMatchObject({ count: 10, summarised_repeats: 9 });
  });

  it("still appends a verified actor's distinct denial at once when the bound is reached, holding no window for it", async () => {
    const recorder = createDenialRecorder(appenderFor(store.db), { windowMs: 60_000, maxOpenWindows: 1 });
    for (const actor of ["node:a", "node:b", "node:b"] as const) {
      await recorder.record(event("verified-at-bound", 1, { decision: "denied", reason: "permission_denied", actor }));
    }
    expect((await rowsOf(store.db, "verified-at-bound")).map((row) => row.actor)).toEqual(["node:a", "node:b", "node:b"]);
    await recorder.flush();
    // node:a's window held one denial: nothing to summarise.
    expect(await rowsOf(store.db, "verified-at-bound")).toHaveLength(3);
  });
});
