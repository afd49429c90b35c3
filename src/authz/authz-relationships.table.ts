import { pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/**
 * The typed shape of authz_relationships (migration 0010): the embedded engine's relationships,
 * kept durably. The SQL is in durable-relationships.ts.
 */
export const authzRelationshipsTable = pgTable("authz_relationships", {
  resourceType: text("resource_type").notNull(),
  resourceId: text("resource_id").notNull(),
  relation: text("relation").notNull(),
  subjectType: text("subject_type").notNull(),
  subjectId: text("subject_id").notNull(),
  writtenAt: timestamp("written_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
}, (table) => [primaryKey({ columns: [table.resourceType, table.resourceId, table.relation, table.subjectType, table.subjectId] })]);
