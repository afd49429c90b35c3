import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { SQLSTATE_REFUSED, sqlState, type Database, type SqlTransaction } from "./database.ts";

/**
 * SQL migrations under migrations/, each `NNNN_name.up.sql` with its `NNNN_name.down.sql`.
 *
 * Why not a migration library: the ones that handle down migrations (postgrator, umzug) run
 * the script and write their ledger row in separate statements, outside one transaction, and
 * none speaks to PGlite without an adapter anyway. Here each migration and its ledger row
 * commit together or not at all, under an advisory lock so two migrators cannot interleave.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly up: string;
  readonly down: string;
  /** SHA-256 over both scripts: editing either after it was applied is refused. */
  readonly checksum: string;
}

export type MigrationErrorCode =
  | "invalid_migration_files"
  | "checksum_mismatch"
  | "unknown_applied_migration"
  | "migration_refused"
  | "migration_failed";

export class MigrationError extends Error {
  readonly code: MigrationErrorCode;
  readonly version: number | undefined;
  readonly sqlState: string | undefined;

  constructor(code: MigrationErrorCode, message: string, options: { version?: number; sqlState?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "MigrationError";
    this.code = code;
    this.version = options.version;
    this.sqlState = options.sqlState;
  }
}

const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$/;
const LEDGER = "custos_migrations";
// An arbitrary constant: every Custos migrator in this database takes the same lock.
const MIGRATION_LOCK_KEY = 7_415_021;

export async function loadMigrations(directory: string): Promise<Migration[]> {
  const files = (await readdir(directory)).filter((file) => file.endsWith(".sql")).sort();
  const byVersion = new Map<number, { name: string; up?: string; down?: string }>();
  for (const file of files) {
    const match = FILE_PATTERN.exec(file);
    if (match === null) {
      throw new MigrationError("invalid_migration_files", `${file}: expected NNNN_name.up.sql or NNNN_name.down.sql`);
    }
    const [, digits, name, direction] = match as unknown as [string, string, string, "up" | "down"];
    const version = Number(digits);
    const entry = byVersion.get(version) ?? { name };
    if (entry.name !== name) {
      throw new MigrationError("invalid_migration_files", `version ${digits} has two names: ${entry.name} and ${name}`);
    }
    entry[direction] = await readFile(path.join(directory, file), "utf8");
    byVersion.set(version, entry);
  }
  return [...byVersion.entries()]
    .sort(([a], [b]) => a - b)
    .map(([version, entry]) => {
      if (entry.up === undefined || entry.down === undefined) {
        throw new MigrationError("invalid_migration_files", `migration ${String(version).padStart(4, "0")}_${entry.name} needs both an up and a down file`);
      }
      const checksum = createHash("sha256").update(entry.up).update("\0").update(entry.down).digest("hex");
      return { version, name: entry.name, up: entry.up, down: entry.down, checksum };
    });
}

export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
  readonly checksum: string;
  readonly appliedAt: string;
}

export interface MigrationStatusEntry {
  readonly version: number;
  readonly name: string;
  readonly state: "applied" | "pending" | "checksum_mismatch" | "missing_file";
  readonly appliedAt: string | undefined;
}

/** Under the migration lock: CREATE TABLE IF NOT EXISTS itself races between two sessions. */
async function ensureLedger(db: Database): Promise<void> {
  await db.transaction(async (tx) => {
    await lockMigrations(tx);
    await tx.query(`CREATE TABLE IF NOT EXISTS ${LEDGER} (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
  });
}

async function readLedger(session: Pick<Database, "query">): Promise<AppliedMigration[]> {
  const rows = await session.query<{ version: number; name: string; checksum: string; applied_at: string }>(
    `SELECT version, name, checksum,
            to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS applied_at
       FROM ${LEDGER} ORDER BY version`,
  );
  return rows.map((row) => ({ version: row.version, name: row.name, checksum: row.checksum, appliedAt: row.applied_at }));
}

export async function migrationStatus(db: Database, migrations: readonly Migration[]): Promise<MigrationStatusEntry[]> {
  await ensureLedger(db);
  const applied = new Map((await readLedger(db)).map((row) => [row.version, row]));
  const entries: MigrationStatusEntry[] = migrations.map((migration) => {
    const row = applied.get(migration.version);
    if (row === undefined) return { version: migration.version, name: migration.name, state: "pending", appliedAt: undefined };
    const state = row.checksum === migration.checksum ? "applied" : "checksum_mismatch";
    return { version: migration.version, name: migration.name, state, appliedAt: row.appliedAt };
  });
  for (const row of applied.values()) {
    if (!migrations.some((migration) => migration.version === row.version)) {
      entries.push({ version: row.version, name: row.name, state: "missing_file", appliedAt: row.appliedAt });
    }
  }
  return entries.sort((a, b) => a.version - b.version);
}

/** Refuses to go on when any applied migration was edited or is no longer on disk. */
function assertLedgerMatches(applied: readonly AppliedMigration[], migrations: readonly Migration[]): void {
  for (const row of applied) {
    const migration = migrations.find((candidate) => candidate.version === row.version);
    if (migration === undefined) {
      throw new MigrationError("unknown_applied_migration", `migration ${row.version} (${row.name}) is applied but its files are missing`, { version: row.version });
    }
    if (migration.checksum !== row.checksum) {
      throw new MigrationError("checksum_mismatch", `migration ${row.version} (${row.name}) was edited after it was applied; restore the original files`, { version: row.version });
    }
  }
}

async function lockMigrations(tx: SqlTransaction): Promise<void> {
  // A migration may run long, and may wait for another migrator: the bounds every other
  // statement has (DATABASE_TIMEOUTS) are lifted for this transaction only.
  await tx.query("SET LOCAL statement_timeout = 0");
  await tx.query("SET LOCAL lock_timeout = 0");
  await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY]);
}

function describeFailure(migration: Migration, direction: "up" | "down", error: unknown): MigrationError {
  if (error instanceof MigrationError) return error;
  const state = sqlState(error);
  const reason = error instanceof Error ? error.message : String(error);
  if (state === SQLSTATE_REFUSED) {
    return new MigrationError(
      "migration_refused",
      `migration ${migration.version} (${migration.name}) refuses to be reversed (SQLSTATE ${SQLSTATE_REFUSED}): ${reason}; nothing was changed`,
      { version: migration.version, sqlState: state, cause: error },
    );
  }
  return new MigrationError(
    "migration_failed",
    `migration ${migration.version} (${migration.name}) ${direction} failed${state === undefined ? "" : ` (SQLSTATE ${state})`}: ${reason}; nothing was changed`,
    { version: migration.version, ...(state === undefined ? {} : { sqlState: state }), cause: error },
  );
}

/** Applies every pending migration, each in its own transaction with its ledger row. */
export async function migrateUp(db: Database, migrations: readonly Migration[], onApplied: (m: Migration) => void = () => undefined): Promise<Migration[]> {
  await ensureLedger(db);
  const done: Migration[] = [];
  for (const migration of migrations) {
    const applied = await db.transaction(async (tx) => {
      await lockMigrations(tx);
      const ledger = await readLedger(tx);
      assertLedgerMatches(ledger, migrations);
      if (ledger.some((row) => row.version === migration.version)) return false;
      try {
        await tx.script(migration.up);
      } catch (error) {
        throw describeFailure(migration, "up", error);
      }
      await tx.query(`INSERT INTO ${LEDGER} (version, name, checksum) VALUES ($1, $2, $3)`, [migration.version, migration.name, migration.checksum]);
      return true;
    });
    if (applied) {
      done.push(migration);
      onApplied(migration);
    }
  }
  return done;
}

/** A table or column a down would drop while it still holds data. */
export interface DataLoss {
  readonly table: string;
  /** Undefined when the whole table goes. */
  readonly column: string | undefined;
}

export function describeDataLoss(loss: readonly DataLoss[]): string {
  return loss.map((item) => (item.column === undefined ? `table ${item.table}` : `column ${item.table}.${item.column}`)).join(", ");
}

type Catalog = Map<string, Set<string>>;

/** The tables of the current schema and their columns. */
async function readCatalog(tx: SqlTransaction): Promise<Catalog> {
  const rows = await tx.query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`,
  );
  const catalog: Catalog = new Map();
  for (const row of rows) {
    const columns = catalog.get(row.table_name) ?? new Set<string>();
    columns.add(row.column_name);
    catalog.set(row.table_name, columns);
  }
  return catalog;
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The tables (with rows) and columns (with values) present before and gone after. */
async function dataLost(tx: SqlTransaction, before: Catalog, after: Catalog): Promise<DataLoss[]> {
  const loss: DataLoss[] = [];
  for (const [table, columns] of before) {
    if (table === LEDGER) continue;
    const remaining = after.get(table);
    if (remaining === undefined) {
      const [row] = await tx.query<{ holds: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${quoteIdentifier(table)}) AS holds`);
      if (row?.holds === true) loss.push({ table, column: undefined });
      continue;
    }
    for (const column of columns) {
      if (remaining.has(column)) continue;
      const [row] = await tx.query<{ holds: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM ${quoteIdentifier(table)} WHERE ${quoteIdentifier(column)} IS NOT NULL) AS holds`,
      );
      if (row?.holds === true) loss.push({ table, column });
    }
  }
  return loss;
}

export interface MigrateDownOptions {
  /** The operator said so explicitly (`--allow-data-loss`): a down may drop tables and columns holding data. */
  readonly allowDataLoss?: boolean;
  /**
   * Told what will be destroyed before an allowed down runs, inside its transaction; the CLI
   * audits it there. A rejection stops the down and nothing changes.
   */
  readonly onDataLoss?: (tx: SqlTransaction, migration: Migration, loss: readonly DataLoss[]) => Promise<void>;
}

/**
 * Reverses the newest applied migration; undefined when there is none. A down that would
 * drop a table holding rows or a column holding values is refused (SQLSTATE 0A000, nothing
 * changed) unless data loss is allowed explicitly. What a down would drop is found by
 * running it once under a savepoint and comparing the catalog, so no down file has to
 * declare it and an applied migration's files never change.
 */
export async function migrateDown(db: Database, migrations: readonly Migration[], options: MigrateDownOptions = {}): Promise<Migration | undefined> {
  await ensureLedger(db);
  return db.transaction(async (tx) => {
    await lockMigrations(tx);
    const ledger = await readLedger(tx);
    assertLedgerMatches(ledger, migrations);
    const newest = ledger.at(-1);
    if (newest === undefined) return undefined;
    const migration = migrations.find((candidate) => candidate.version === newest.version);
    if (migration === undefined) throw new Error("unreachable: ledger checked against files");
    try {
      const before = await readCatalog(tx);
      await tx.query("SAVEPOINT custos_down_probe");
      await tx.script(migration.down);
      const after = await readCatalog(tx);
      await tx.query("ROLLBACK TO SAVEPOINT custos_down_probe");
      const loss = await dataLost(tx, before, after);
      if (loss.length > 0) {
        if (options.allowDataLoss !== true) {
          throw new MigrationError(
            "migration_refused",
            `migration ${migration.version} (${migration.name}) refuses to be reversed (SQLSTATE ${SQLSTATE_REFUSED}): ` +
              `it would destroy the data in ${describeDataLoss(loss)}; nothing was changed (--allow-data-loss overrides this, and is audited)`,
            { version: migration.version, sqlState: SQLSTATE_REFUSED },
          );
        }
        await options.onDataLoss?.(tx, migration, loss);
      }
      await tx.script(migration.down);
    } catch (error) {
      throw describeFailure(migration, "down", error);
    }
    await tx.query(`DELETE FROM ${LEDGER} WHERE version = $1`, [migration.version]);
    return migration;
  });
}
