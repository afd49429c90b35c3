import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATIONS_DIR } from "../../src/package-paths.ts";
import { sqlState } from "../../src/platform/db/database.ts";
import { loadMigrations, migrateDown, migrateUp, MigrationError } from "../../src/platform/db/migrate.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore } from "../support/stores.ts";
import { appendEvents, appenderFor, newSigner, rowsOf, verify } from "./audit-fixtures.ts";
import { signCheckpoint } from "../../src/audit/checkpoints.ts";

async function sqlStateOf(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work;
  } catch (error) {
    return sqlState(error);
  }
  return "no error";
}

describe.each(storeKinds())("the audit tables on %s", (kind) => {
  let store: IsolatedStore;

  beforeAll(async () => {
    store = await createIsolatedStore(kind);
    // Only the audit migration, so that it is the newest and `migrate down` targets it.
    const audit = (await loadMigrations(MIGRATIONS_DIR)).filter((m) => m.name === "audit");
    await migrateUp(store.db, audit);
    const appender = appenderFor(store.db);
    await appendEvents(appender, "kept", 5);
    await signCheckpoint(store.db, newSigner(), "kept");
  });
  afterAll(async () => {
    await store.dispose();
  });

  it.each([
    ["UPDATE audit_events SET reason = 'rewritten' WHERE chain = 'kept'"],
    ["DELETE FROM audit_events WHERE chain = 'kept' AND seq = 3"],
    ["TRUNCATE audit_events CASCADE"],
    ["UPDATE audit_chains SET genesis = repeat('0', 64)"],
    ["DELETE FROM audit_chains"],
    ["TRUNCATE audit_chains CASCADE"],
    ["UPDATE audit_checkpoints SET hash = repeat('0', 64)"],
    ["DELETE FROM audit_checkpoints"],
    ["TRUNCATE audit_checkpoints"],
  ])("refuses %s with SQLSTATE 0A000", async (statement) => {
    expect(await sqlStateOf(store.db.query(statement))).toBe("0A000");
    expect(await rowsOf(store.db, "kept")).toHaveLength(5);
  });

  it("refuses to reverse the audit migration with 0A000, leaving tables, rows and ledger intact, and the chain verifying", async () => {
    const before = await rowsOf(store.db, "kept");
    let refusal: unknown;
    try {
      await migrateDown(store.db, await loadMigrations(MIGRATIONS_DIR));
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(MigrationError);
    expect((refusal as MigrationError).code).toBe("migration_refused");
    expect((refusal as MigrationError).message).toContain("0A000");
    expect(await rowsOf(store.db, "kept")).toEqual(before);
    expect(await store.db.query("SELECT version FROM custos_migrations")).toEqual([{ version: 1 }]);
    expect(await store.db.query("SELECT count(*)::int AS n FROM audit_checkpoints")).toEqual([{ n: 1 }]);
    expect(await verify(store.db, "kept")).toMatchObject({ ok: true, rows_checked: 5 });
  });
});
