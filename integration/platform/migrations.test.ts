import { cp, mkdtemp, rm, writeFile, appendFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Database } from "../../src/platform/db/database.ts";
import { describeDataLoss, loadMigrations, migrateDown, migrateUp, MigrationError } from "../../src/platform/db/migrate.ts";
import { REPO_ROOT, runCli } from "../support/cli.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore } from "../support/stores.ts";

const REFUSING_FIXTURE = path.join(REPO_ROOT, "integration", "fixtures", "migrations-refusing");

async function tableRows(db: Database, table: string): Promise<unknown[]> {
  return db.query(`SELECT * FROM ${table} ORDER BY id`);
}

async function ledgerVersions(db: Database): Promise<number[]> {
  const rows = await db.query<{ version: number }>("SELECT version FROM custos_migrations ORDER BY version");
  return rows.map((row) => row.version);
}

describe.each(storeKinds())("migrations on %s", (kind) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function store(): Promise<IsolatedStore> {
    const isolated = await createIsolatedStore(kind, { pgliteOnDisk: true });
    cleanups.push(() => isolated.dispose());
    return isolated;
  }

  /** The CLI is another process; PGlite allows one process at a time, so hand over the data. */
  async function withCli<T>(isolated: IsolatedStore, run: () => Promise<T>): Promise<{ result: T; db: Database }> {
    await isolated.db.close();
    const result = await run();
    const db = await isolated.reopen();
    return { result, db };
  }

  it("custos migrate down exits non-zero naming SQLSTATE 0A000 and leaves schema, rows and ledger untouched", async () => {
    const isolated = await store();
    const env = { ...isolated.env, CUSTOS_MIGRATIONS_DIR: REFUSING_FIXTURE };
    const { result, db } = await withCli(isolated, async () => {
      const up = await runCli(["migrate", "up"], env);
      expect(up.code, up.stderr).toBe(0);
      expect(up.stderr).toContain("2 migration(s) applied");
      return runCli(["migrate", "down"], env);
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("SQLSTATE 0A000");
    expect(result.stderr).toContain("refuses to be reversed");
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(await tableRows(db, "ledger_entries")).toEqual([{ id: 1, note: "kept forever" }]);
    expect(await tableRows(db, "widgets")).toEqual([{ id: 1, label: "first" }]);
    expect(await ledgerVersions(db)).toEqual([1, 2]);
  });

  it("custos migrate status lists each migration as applied", async () => {
    const isolated = await store();
    const env = { ...isolated.env, CUSTOS_MIGRATIONS_DIR: REFUSING_FIXTURE };
    const { result } = await withCli(isolated, async () => {
      expect((await runCli(["migrate", "up"], env)).code).toBe(0);
      return runCli(["migrate", "status", "--json"], env);
    });
    expect(result.code).toBe(0);
    const entries = JSON.parse(result.stdout) as { version: number; state: string }[];
    expect(entries.map((entry) => [entry.version, entry.state])).toEqual([[1, "applied"], [2, "applied"]]);
  });

  it("refuses a down that would drop a table holding rows, changing nothing (SQLSTATE 0A000)", async () => {
    const { db } = await store();
    const migrations = (await loadMigrations(REFUSING_FIXTURE)).filter((m) => m.version === 1);
    await migrateUp(db, migrations);
    await expect(migrateDown(db, migrations)).rejects.toMatchObject({ code: "migration_refused", sqlState: "0A000" });
    await expect(migrateDown(db, migrations)).rejects.toThrow(/table widgets/);
    expect(await tableRows(db, "widgets")).toEqual([{ id: 1, label: "first" }]);
    expect(await ledgerVersions(db)).toEqual([1]);
  });

  it("reverses a down once its tables are empty, with its ledger row", async () => {
    const { db } = await store();
    const migrations = (await loadMigrations(REFUSING_FIXTURE)).filter((m) => m.version === 1);
    await migrateUp(db, migrations);
    await db.query("DELETE FROM widgets");
    const reversed = await migrateDown(db, migrations);
    expect(reversed?.version).toBe(1);
    expect(await ledgerVersions(db)).toEqual([]);
    await expect(db.query("SELECT * FROM widgets")).rejects.toThrow();
  });

  it("reverses a down that destroys data only when allowed, telling the caller what it destroys first", async () => {
    const { db } = await store();
    const migrations = (await loadMigrations(REFUSING_FIXTURE)).filter((m) => m.version === 1);
    await migrateUp(db, migrations);
    const told: string[] = [];
    const reversed = await migrateDown(db, migrations, {
      allowDataLoss: true,
      onDataLoss: (_tx, migration, loss) => {
        told.push(`${migration.name}: ${describeDataLoss(loss)}`);
        return Promise.resolve();
      },
    });
    expect(reversed?.version).toBe(1);
    expect(told).toEqual(["widgets: table widgets"]);
    expect(await ledgerVersions(db)).toEqual([]);
  });

  it("refuses to run when an applied migration was edited afterwards", async () => {
    const { db } = await store();
    const directory = await mkdtemp(path.join(os.tmpdir(), "custos-migrations-"));
    cleanups.push(() => rm(directory, { recursive: true, force: true }));
    await cp(REFUSING_FIXTURE, directory, { recursive: true });
    await migrateUp(db, await loadMigrations(directory));
    await appendFile(path.join(directory, "0001_widgets.up.sql"), "\nINSERT INTO widgets VALUES (2, 'sneaky');\n");
    await writeFile(path.join(directory, "0003_more.up.sql"), "CREATE TABLE more_things (id integer);");
    await writeFile(path.join(directory, "0003_more.down.sql"), "DROP TABLE more_things;");
    const edited = await loadMigrations(directory);
    await expect(migrateUp(db, edited)).rejects.toMatchObject({ code: "checksum_mismatch", version: 1 });
    await expect(migrateDown(db, edited)).rejects.toMatchObject({ code: "checksum_mismatch" });
    await expect(db.query("SELECT * FROM more_things")).rejects.toThrow();
  });

  it("rolls back a failing migration entirely: no half-created table, no ledger row", async () => {
    const { db } = await store();
    const directory = await mkdtemp(path.join(os.tmpdir(), "custos-migrations-"));
    cleanups.push(() => rm(directory, { recursive: true, force: true }));
    await writeFile(path.join(directory, "0001_broken.up.sql"), "CREATE TABLE half (id integer);\nSELECT no_such_function();");
    await writeFile(path.join(directory, "0001_broken.down.sql"), "DROP TABLE half;");
    const error = await migrateUp(db, await loadMigrations(directory)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect(error).toMatchObject({ code: "migration_failed", sqlState: "42883" });
    await expect(db.query("SELECT * FROM half")).rejects.toThrow();
    expect(await ledgerVersions(db)).toEqual([]);
  });

  it("refuses a migration directory where an up has no down", async () => {
    const directory = await mkdtemp(path.join(os.tmpdir(), "custos-migrations-"));
    cleanups.push(() => rm(directory, { recursive: true, force: true }));
    await writeFile(path.join(directory, "0001_lonely.up.sql"), "SELECT 1;");
    await expect(loadMigrations(directory)).rejects.toMatchObject({ code: "invalid_migration_files" });
  });

  it("applies each migration once when two migrators race", async () => {
    const isolated = await store();
    const migrations = await loadMigrations(REFUSING_FIXTURE);
    const second = kind === "postgres" ? await isolated.reopen() : isolated.db;
    const [first, other] = await Promise.all([migrateUp(isolated.db, migrations), migrateUp(second, migrations)]);
    expect(first.length + other.length).toBe(2);
    expect(await ledgerVersions(isolated.db)).toEqual([1, 2]);
  });
});
