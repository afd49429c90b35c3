import { bigint, integer, pgTable, text, timestamp } from "drizzle-orm/pg-core";

/**
 * The typed shape of the sign-in tables (migrations 0003 and 0008). Only SHA-256 digests of
 * the browser's secrets are stored (`id_digest`); the SQL is in session-repo.ts.
 */
export const loginAttemptsTable = pgTable("login_attempts", {
  idDigest: text("id_digest").primaryKey(),
  domain: text("domain").notNull(),
  returnTo: text("return_to").notNull(),
  acrValues: text("acr_values"),
  maxAge: integer("max_age"),
  expiresAt: timestamp("expires_at", { withTimezone: true, mode: "string" }).notNull(),
  source: text("source").notNull().default("unknown"),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "string" }).notNull(),
});

export const sessionsTable = pgTable("sessions", {
  idDigest: text("id_digest").primaryKey(),
  domain: text("domain").notNull(),
  subject: text("subject").notNull(),
  acr: text("acr"),
  amr: text("amr").array().notNull(),
  authTime: bigint("auth_time", { mode: "number" }),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
  expiresAt: timestamp("expires_at", { withTimezone: true, mode: "string" }).notNull(),
  endedAt: timestamp("ended_at", { withTimezone: true, mode: "string" }),
});
