import { bigint, jsonb, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/**
 * The typed shape of the audit tables (migrations/0001_audit.up.sql). The SQL itself stays
 * hand-written in audit-store.ts (to_char timestamps, one-value pages); these say what the
 * columns are, and drizzle-kit reads them to draft migrations for review.
 */
export const auditChainsTable = pgTable("audit_chains", {
  chain: text("chain").primaryKey(),
  genesis: text("genesis").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
});

export const auditEventsTable = pgTable("audit_events", {
  chain: text("chain").notNull(),
  seq: bigint("seq", { mode: "number" }).notNull(),
  at: timestamp("at", { withTimezone: true, mode: "string" }).notNull(),
  actor: text("actor").notNull(),
  action: text("action").notNull(),
  resource: text("resource").notNull(),
  decision: text("decision", { enum: ["granted", "denied", "recorded"] }).notNull(),
  reason: text("reason").notNull(),
  requestId: text("request_id").notNull(),
  details: jsonb("details").notNull(),
  prevHash: text("prev_hash").notNull(),
  hash: text("hash").notNull(),
}, (table) => [primaryKey({ columns: [table.chain, table.seq] })]);

export const auditCheckpointsTable = pgTable("audit_checkpoints", {
  chain: text("chain").notNull(),
  seq: bigint("seq", { mode: "number" }).notNull(),
  hash: text("hash").notNull(),
  signedAt: timestamp("signed_at", { withTimezone: true, mode: "string" }).notNull(),
  keyId: text("key_id").notNull(),
  checkpoint: jsonb("checkpoint").notNull(),
}, (table) => [primaryKey({ columns: [table.chain, table.seq, table.signedAt] })]);
