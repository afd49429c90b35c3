import { pgTable, text, timestamp } from "drizzle-orm/pg-core";

export const domainsTable = pgTable("domains", {
  id: text("id").primaryKey(),
  issuer: text("issuer").notNull(),
  clientId: text("client_id").notNull(),
  admins: text("admins").array().notNull(),
  auditors: text("auditors").array().notNull(),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
});
