import { jsonb, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

/** The columns both purposes' tables share (0014 copies 0004's table with LIKE … INCLUDING ALL). */
function signingKeyColumns() {
  return {
    domain: text("domain").notNull(),
    kid: text("kid").notNull(),
    publicJwk: jsonb("public_jwk").notNull(),
    wrappedPrivateKey: text("wrapped_private_key").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
    retiredAt: timestamp("retired_at", { withTimezone: true, mode: "string" }),
  };
}

/**
 * The typed shape of grant_signing_keys (migration 0004): one active key per domain, the
 * private half wrapped by the key-wrapper port. The SQL is in signing-key-repo.ts.
 */
export const grantSigningKeysTable = pgTable("grant_signing_keys", signingKeyColumns(), (table) => [primaryKey({ columns: [table.domain, table.kid] })]);

/** The typed shape of event_signing_keys (migration 0014): the domains' event keys, the same rules. */
export const eventSigningKeysTable = pgTable("event_signing_keys", signingKeyColumns(), (table) => [primaryKey({ columns: [table.domain, table.kid] })]);
