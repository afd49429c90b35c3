import path from "node:path";
import { loadOrCreateAuditKeyFile, type AuditSigner } from "../audit/audit-signer.ts";
import { loadConfig, type Config } from "../platform/config.ts";
import { openSecretBackend } from "../secrets/open-secret-backend.ts";
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

/** The audit key as the server holds it: wrapped by the configured secret backend. */
export async function withAuditSigner<T>(config: Config, work: (signer: AuditSigner) => Promise<T>): Promise<T> {
  const backend = await openSecretBackend(config);
  try {
    return await work(await loadOrCreateAuditKeyFile(config.auditKeyFile, backend));
  } finally {
    await backend.close();
  }
}
