import { jsonb, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/**
 * The typed shape of grant_signing_keys (migration 0004): one active key per domain, the
 * private half wrapped by the key-wrapper port. The SQL is in grant-signing-key-repo.ts.
 */
export const grantSigningKeysTable = pgTable("grant_signing_keys", {
  domain: text("domain").notNull(),
  kid: text("kid").notNull(),
  publicJwk: jsonb("public_jwk").notNull(),
  wrappedPrivateKey: text("wrapped_private_key").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
  retiredAt: timestamp("retired_at", { withTimezone: true, mode: "string" }),
}, (table) => [primaryKey({ columns: [table.domain, table.kid] })]);
