import type { SqlSession } from "../platform/db/database.ts";
import type { secretsTable } from "./secrets.table.ts";

/** A secret's row (secrets.table.ts), without its timestamps. */
export interface SecretRecord {
  readonly domain: string;
  readonly name: string;
  /** The backend version Custos recorded at the last write. */
  readonly version: number;
  /** The SpiceDB revision of the last change to its readers; undefined for rows written before 0007. */
  readonly authzRevision: string | undefined;
}

/** The secrets capability's port onto its table. */
export interface SecretRepository {
  find(domain: string, name: string): Promise<SecretRecord | undefined>;
  /** Records a write; true when the secret is new, false when a version replaced another. */
  upsert(record: SecretRecord & { readonly authzRevision: string }): Promise<boolean>;
  /** Kept with the secret after a change to its readers (see the read path). */
  setAuthzRevision(domain: string, name: string, revision: string): Promise<void>;
  /** How many secrets the domain has (for GET /v1/domains/{domain}). */
  countInDomain(domain: string): Promise<number>;
}

/**
 * SQL through the Database port (which puts the query deadline on every statement), the same
 * style as the node repository; the columns are those of secrets.table.ts.
 */
export function createSecretRepository(db: SqlSession): SecretRepository {
  return {
    async find(domain, name) {
      const [row] = await db.query<Pick<typeof secretsTable.$inferSelect, "version" | "authzRevision">>(
        `SELECT version, authz_revision AS "authzRevision" FROM secrets WHERE domain = $1 AND name = $2`,
        [domain, name],
      );
      if (row === undefined) return undefined;
      return { domain, name, version: row.version, authzRevision: row.authzRevision ?? undefined };
    },
    async upsert(record) {
      const [row] = await db.query<{ created: boolean }>(
        `INSERT INTO secrets (domain, name, version, authz_revision) VALUES ($1, $2, $3, $4)
         ON CONFLICT (domain, name) DO UPDATE SET version = EXCLUDED.version, authz_revision = EXCLUDED.authz_revision, updated_at = now()
         RETURNING (xmax = 0) AS created`,
        // xmax = 0 only for a freshly inserted row: it tells created from replaced in one statement.
        [record.domain, record.name, record.version, record.authzRevision],
      );
      return row?.created === true;
    },
    async setAuthzRevision(domain, name, revision) {
      await db.query("UPDATE secrets SET authz_revision = $3 WHERE domain = $1 AND name = $2", [domain, name, revision]);
    },
    async countInDomain(domain) {
      const [row] = await db.query<{ n: number | string }>("SELECT count(*) AS n FROM secrets WHERE domain = $1", [domain]);
      return Number(row?.n ?? 0);
    },
  };
}
