import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustosError } from "../../src/platform/errors.ts";
import { sqlState } from "../../src/platform/db/database.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore } from "../support/stores.ts";

describe.each(storeKinds())("Database.pipelinedTransaction on %s", (kind) => {
  let store: IsolatedStore;

  beforeAll(async () => {
    store = await createIsolatedStore(kind);
    await store.db.query("CREATE TABLE pipelined (id int PRIMARY KEY, label text NOT NULL)");
  });
  afterAll(async () => {
    await store.dispose();
  });

  it("commits every statement and resolves with each one's rows", async () => {
    const results = await store.db.pipelinedTransaction([
      { text: "INSERT INTO pipelined (id, label) VALUES ($1, $2) RETURNING id", params: [1, "one"] },
      { text: "INSERT INTO pipelined (id, label) VALUES ($1, $2) RETURNING label", params: [2, "two"] },
      { text: "SELECT count(*)::int AS n FROM pipelined" },
    ]);
    expect(results).toEqual([[{ id: 1 }], [{ label: "two" }], [{ n: 2 }]]);
  });

  it("rolls every statement back when one fails, and rejects with that failure", async () => {
    const attempt = store.db.pipelinedTransaction([
      { text: "INSERT INTO pipelined (id, label) VALUES ($1, $2)", params: [3, "three"] },
      { text: "INSERT INTO pipelined (id, label) VALUES ($1, $2)", params: [1, "one again"] },
      { text: "INSERT INTO pipelined (id, label) VALUES ($1, $2)", params: [4, "four"] },
    ]);
    await expect(attempt).rejects.toSatisfy((error: unknown) => sqlState(error) === "23505");
    expect(await store.db.query("SELECT id FROM pipelined ORDER BY id")).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it("leaves the connection out of any transaction: the pool's next queries commit on their own", async () => {
    await expect(store.db.pipelinedTransaction([{ text: "SELECT 1/0 AS boom" }])).rejects.toBeDefined();
    // Several, so that on the server each pooled connection (the one that failed among them) is used.
    await Promise.all(Array.from({ length: 12 }, (_, n) => store.db.query("INSERT INTO pipelined (id, label) VALUES ($1, 'after')", [100 + n])));
    // Counted from another session (on the server, another pool): rows left in an open transaction would not show.
    const other = kind === "postgres" ? await store.reopen() : store.db;
    try {
      const [row] = await other.query<{ n: number }>("SELECT count(*)::int AS n FROM pipelined WHERE label = 'after'");
      expect(row?.n).toBe(12);
    } finally {
      if (other !== store.db) await other.close();
    }
  });

  it.skipIf(kind !== "postgres")("gives up with store_unavailable past its deadline rather than wait for a session that does not answer, and the pool keeps answering", async () => {
    const started = Date.now();
    const attempt = store.db.pipelinedTransaction([{ text: "SELECT pg_sleep(5)" }], { deadlineMs: 300 });
    await expect(attempt).rejects.toSatisfy((error: unknown) => error instanceof CustosError && error.code === "store_unavailable");
    // Answered long before the statement could have been.
    expect(Date.now() - started).toBeLessThan(4000);
    const [row] = await store.db.query<{ one: number }>("SELECT 1 AS one");
    expect(row?.one).toBe(1);
  });
});
