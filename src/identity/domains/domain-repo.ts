import type { SqlSession } from "../../platform/db/database.ts";
import type { DomainListing, DomainRepository, DomainSummary } from "./domain.ts";
import type { domainsTable } from "./domains.table.ts";

type DomainRow = Pick<typeof domainsTable.$inferSelect, "id" | "issuer" | "clientId" | "admins" | "auditors">;

/** ISO 8601 in UTC with milliseconds, the same spelling on PostgreSQL and PGlite. */
const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const SUMMARY_COLUMNS = `id, issuer, client_id AS "clientId", ${iso("created_at")} AS "createdAt", ${iso("updated_at")} AS "updatedAt"`;

/**
 * SQL through the Database port, like every other repository: the port puts its deadline on
 * every statement, so a hung store answers store_unavailable instead of holding a sign-in or
 * an admin request forever. The columns are those of domains.table.ts.
 */
export function createDomainRepository(db: SqlSession): DomainRepository & DomainListing {
  return {
    async find(id) {
      const [row] = await db.query<DomainRow>(
        `SELECT id, issuer, client_id AS "clientId", admins, auditors FROM domains WHERE id = $1 LIMIT 1`,
        [id],
      );
      if (row === undefined) return undefined;
      return { id: row.id, issuer: row.issuer, clientId: row.clientId, admins: row.admins, auditors: row.auditors };
    },
    async list(after, limit) {
      return after === undefined
        ? db.query<DomainSummary>(`SELECT ${SUMMARY_COLUMNS} FROM domains ORDER BY id LIMIT $1`, [limit])
        : db.query<DomainSummary>(`SELECT ${SUMMARY_COLUMNS} FROM domains WHERE id > $2 ORDER BY id LIMIT $1`, [limit, after]);
    },
    async findSummary(id) {
      const [row] = await db.query<DomainSummary>(`SELECT ${SUMMARY_COLUMNS} FROM domains WHERE id = $1`, [id]);
      return row;
    },
    async upsert(domain) {
      // The lists travel as JSON: both drivers then send them the same way.
      const [row] = await db.query<{ inserted: boolean }>(
        `INSERT INTO domains (id, issuer, client_id, admins, auditors)
         VALUES ($1, $2, $3, ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), ARRAY(SELECT jsonb_array_elements_text($5::jsonb)))
         ON CONFLICT (id) DO UPDATE SET issuer = EXCLUDED.issuer, client_id = EXCLUDED.client_id,
           admins = EXCLUDED.admins, auditors = EXCLUDED.auditors, updated_at = now()
         RETURNING (xmax = 0) AS inserted`,
        // xmax = 0 only for a freshly inserted row: it tells created from replaced in one statement.
        [domain.id, domain.issuer, domain.clientId, JSON.stringify(domain.admins), JSON.stringify(domain.auditors)],
      );
      return row?.inserted === true;
    },
  };
}
