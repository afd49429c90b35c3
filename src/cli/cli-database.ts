import { existsSync } from "node:fs";
import path from "node:path";
import { loadConfig, type Config } from "../platform/config.ts";
import { openDatabase } from "../platform/db/connect.ts";
import type { Database } from "../platform/db/database.ts";

export interface WithDatabaseOptions {
  /**
   * For commands that read what a server wrote (audit verify, export, checkpoint): an
   * embedded data directory that does not exist is an error naming where it was looked for,
   * never a fresh empty database created on the spot.
   */
  readonly existing?: boolean;
}

/** Where the store is, in words: for messages that tell a user where a command looked. */
export function describeStore(config: Config): string {
  if (config.databaseUrl !== undefined) {
    const url = new URL(config.databaseUrl);
    return `the PostgreSQL database ${url.pathname.slice(1) || "(default)"} on ${url.hostname} (DATABASE_URL)`;
  }
  return `the embedded database under ${path.resolve(config.dataDir)} (CUSTOS_DATA_DIR)`;
}

/** Opens the store the server would use (same configuration), runs `work`, closes it. */
export async function withDatabase<T>(work: (db: Database, config: Config) => Promise<T>, options: WithDatabaseOptions = {}): Promise<T> {
  const config = loadConfig();
  const pgliteDir = path.join(config.dataDir, "pglite");
  if (options.existing === true && config.databaseUrl === undefined && !existsSync(pgliteDir)) {
    throw new Error(
      `no Custos data at ${path.resolve(config.dataDir)}: run this from where custos dev or serve keeps its data, ` +
        "or set CUSTOS_DATA_DIR (embedded) or DATABASE_URL (PostgreSQL server)",
    );
  }
  const db = await openDatabase({ databaseUrl: config.databaseUrl, pgliteDir });
  try {
    return await work(db, config);
  } finally {
    await db.close();
  }
}

/** True when the chain has a domain or at least one audit record. */
export async function chainExists(db: Database, chain: string): Promise<boolean> {
  const rows = await db.query(
    "SELECT 1 FROM audit_chains WHERE chain = $1 UNION ALL SELECT 1 FROM domains WHERE id = $1 LIMIT 1",
    [chain],
  );
  return rows.length > 0;
}
