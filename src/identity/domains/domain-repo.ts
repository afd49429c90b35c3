import { eq, sql } from "drizzle-orm";
import { DEFAULT_QUERY_TIMEOUT_MS, withinDeadline } from "../../platform/db/connect.ts";
import type { Orm } from "../../platform/db/database.ts";
import type { DomainRepository } from "./domain.ts";
import { domainsTable } from "./domains.table.ts";

/**
 * drizzle's queries go straight to the driver, past the deadline the Database port puts on
 * every query: each one here carries the same bound, so a hung store answers
 * store_unavailable instead of holding a sign-in or an admin request forever.
 */
function bounded<T>(query: PromiseLike<T>): Promise<T> {
  return withinDeadline(DEFAULT_QUERY_TIMEOUT_MS, Promise.resolve(query));
}

export function createDomainRepository(orm: Orm): DomainRepository {
  return {
    async find(id) {
      const [row] = await bounded(orm.select().from(domainsTable).where(eq(domainsTable.id, id)).limit(1));
      if (row === undefined) return undefined;
      return { id: row.id, issuer: row.issuer, clientId: row.clientId, admins: row.admins, auditors: row.auditors };
    },
    async upsert(domain) {
      const values = { id: domain.id, issuer: domain.issuer, clientId: domain.clientId, admins: [...domain.admins], auditors: [...domain.auditors] };
      const [row] = await bounded(
        orm
          .insert(domainsTable)
          .values(values)
          .onConflictDoUpdate({ target: domainsTable.id, set: { ...values, updatedAt: sql`now()` } })
          // xmax = 0 only for a freshly inserted row: it tells created from replaced in one statement.
          .returning({ inserted: sql<boolean>`(xmax = 0)` }),
      );
      return row?.inserted === true;
    },
  };
}
