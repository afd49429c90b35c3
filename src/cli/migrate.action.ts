import { randomUUID } from "node:crypto";
import os from "node:os";
import { MIGRATIONS_DIR } from "../package-paths.ts";
import { appendInTransaction } from "../audit/append-in-transaction.ts";
import { describeDataLoss, loadMigrations, migrateDown, migrateUp, migrationStatus } from "../platform/db/migrate.ts";
import { PLATFORM_CHAIN } from "../platform/names.ts";
import { withDatabase } from "./cli-database.ts";

function migrationsDir(): string {
  return process.env.CUSTOS_MIGRATIONS_DIR ?? MIGRATIONS_DIR;
}

export async function runMigrateUp(): Promise<void> {
  await withDatabase(async (db) => {
    const applied = await migrateUp(db, await loadMigrations(migrationsDir()), (m) => {
      console.error(`applied ${String(m.version).padStart(4, "0")}_${m.name}`);
    });
    console.error(applied.length === 0 ? "nothing to apply: the schema is up to date" : `${applied.length} migration(s) applied`);
  });
}

export async function runMigrateDown(options: { allowDataLoss?: boolean }): Promise<void> {
  await withDatabase(async (db) => {
    const reversed = await migrateDown(db, await loadMigrations(migrationsDir()), {
      allowDataLoss: options.allowDataLoss === true,
      // Recorded in the down's own transaction: no record, no data loss.
      onDataLoss: async (tx, migration, loss) => {
        await appendInTransaction(tx, {
          chain: PLATFORM_CHAIN, actor: `operator:${os.userInfo().username}`, action: "migration.down", resource: `migration:${migration.version}_${migration.name}`,
          decision: "granted", reason: "data_loss_allowed", requestId: `cli-${randomUUID()}`, details: { destroyed: describeDataLoss(loss) },
        });
        console.error(`custos: --allow-data-loss: destroying ${describeDataLoss(loss)} (recorded on the platform audit chain)`);
      },
    });
    console.error(reversed === undefined ? "nothing to reverse" : `reversed ${String(reversed.version).padStart(4, "0")}_${reversed.name}`);
  });
}

export async function runMigrateStatus(options: { json?: boolean }): Promise<void> {
  await withDatabase(async (db) => {
    const entries = await migrationStatus(db, await loadMigrations(migrationsDir()));
    if (options.json === true) {
      console.log(JSON.stringify(entries, null, 2));
      return;
    }
    for (const entry of entries) {
      console.log(`${String(entry.version).padStart(4, "0")}_${entry.name}  ${entry.state}${entry.appliedAt === undefined ? "" : `  ${entry.appliedAt}`}`);
    }
    if (entries.length === 0) console.log("no migrations");
  });
}
