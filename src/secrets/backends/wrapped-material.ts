import { existsSync } from "node:fs";
import type { SqlSession } from "../../platform/db/database.ts";

/** Tables whose rows hold key material wrapped by the secret backend's Transit key. */
const WRAPPED_TABLES = [
  { table: "node_secret_keys", what: "node key(s) (node_secret_keys)" },
  { table: "grant_signing_keys", what: "grant signing key(s) (grant_signing_keys)" },
  { table: "event_signing_keys", what: "event signing key(s) (event_signing_keys)" },
] as const;

/**
 * What exists that was wrapped by the Transit key, in words ("3 node key(s) (node_secret_keys)",
 * "the audit key file /srv/audit.pem"); empty on a first install. A table that does not exist
 * yet (migrations not applied) holds nothing.
 */
export async function findWrappedMaterial(db: Pick<SqlSession, "query">, auditKeyFile: string): Promise<string[]> {
  const found: string[] = [];
  for (const { table, what } of WRAPPED_TABLES) {
    const [present] = await db.query<{ present: boolean }>("SELECT to_regclass($1) IS NOT NULL AS present", [table]);
    if (present?.present !== true) continue;
    // The table name comes from the constant list above, never from input.
    const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
    const n = row?.n ?? 0;
    if (n > 0) found.push(`${String(n)} ${what}`);
  }
  if (existsSync(auditKeyFile)) found.push(`the audit key file ${auditKeyFile}`);
  return found;
}
