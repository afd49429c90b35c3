import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDenialRecorder } from "../../src/audit/denial-summariser.ts";
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
});
