import { integer, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/**
 * The typed shape of `secrets` (migrations 0006, 0007): what Custos knows of a secret besides
 * its value, which only the backend holds. `version` is the backend version Custos recorded
 * when it wrote, so a read serves exactly that one; `authz_revision` is the SpiceDB revision
 * of the last change to its readers, so every replica checks at least that fresh.
 */
export const secretsTable = pgTable(
  "secrets",
  {
    domain: text("domain").notNull(),
    name: text("name").notNull(),
    version: integer("version").notNull(),
    authzRevision: text("authz_revision"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.domain, table.name] })],
);
