import { eq, sql } from "drizzle-orm";
import type { Orm } from "../../platform/db/database.ts";
import type { DomainRepository } from "./domain.ts";
import { domainsTable } from "./domains.table.ts";

export function createDomainRepository(orm: Orm): DomainRepository {
  return {
    async find(id) {
      const [row] = await orm.select().from(domainsTable).where(eq(domainsTable.id, id)).limit(1);
      if (row === undefined) return undefined;
      return { id: row.id, issuer: row.issuer, clientId: row.clientId, admins: row.admins, auditors: row.auditors };
    },
    async upsert(domain) {
      const values = { id: domain.id, issuer: domain.issuer, clientId: domain.clientId, admins: [...domain.admins], auditors: [...domain.auditors] };
      const [row] = await orm
        .insert(domainsTable)
        .values(values)
        .onConflictDoUpdate({ target: domainsTable.id, set: { ...values, updatedAt: sql`now()` } })
        // xmax = 0 only for a freshly inserted row: it tells created from replaced in one statement.
        .returning({ inserted: sql<boolean>`(xmax = 0)` });
      return row?.inserted === true;
    },
  };
}
