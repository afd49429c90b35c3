import path from "node:path";
import { loadConfig, type Config } from "../platform/config.ts";
import { openDatabase } from "../platform/db/connect.ts";
import type { Database } from "../platform/db/database.ts";

/** Opens the store the server would use (same configuration), runs `work`, closes it. */
export async function withDatabase<T>(work: (db: Database, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const db = await openDatabase({ databaseUrl: config.databaseUrl, pgliteDir: path.join(config.dataDir, "pglite") });
  try {
    return await work(db, config);
  } finally {
    await db.close();
  }
}

