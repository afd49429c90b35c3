import { pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

export const nodesTable = pgTable("nodes", {
  id: uuid("id").primaryKey(),
  domain: text("domain").notNull(),
  name: text("name").notNull(),
  status: text("status", { enum: ["active", "quarantined", "decommissioned"] }).notNull(),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
  /** Set exactly when the status is `decommissioned` (migration 0011). */
  decommissionedAt: timestamp("decommissioned_at", { withTimezone: true, mode: "string" }),
});

export const nodeSecretKeysTable = pgTable("node_secret_keys", {
  kid: text("kid").primaryKey(),
  nodeId: uuid("node_id").notNull(),
  bearerSecretSha256: text("bearer_secret_sha256").notNull(),
  wrappedWrapKey: text("wrapped_wrap_key").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "string" }).notNull().defaultNow(),
  retiresAt: timestamp("retires_at", { withTimezone: true, mode: "string" }),
});

export const nodeRotationNoncesTable = pgTable(
  "node_rotation_nonces",
  {
    nodeId: uuid("node_id").notNull(),
    nonce: text("nonce").notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "string" }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.nodeId, table.nonce] })],
);

/**
 * The compile-time guard over node_secret_keys: every column must either be one of the known
 * metadata columns, or say by its name that it holds only a one-way digest (`…Sha256`) or
 * backend-wrapped material (`wrapped…`). Adding, say, `nsk: text("nsk")` or
 * `wrapKey: bytea("wrap_key")` makes `npm run typecheck` fail on the line below with
 * "Type 'true' is not assignable to type 'false'" naming the offending column in the error's
 * type (test/fixtures/nsk-guard/ holds such a table and integration/nodes/column-guard.test.ts
 * runs tsc over it). The same rule is applied to the live schema by an integration test.
 */
export type KeyMetadataColumn = "kid" | "nodeId" | "createdAt" | "retiresAt";
export type PlaintextFreeColumn = KeyMetadataColumn | `${string}Sha256` | `wrapped${Capitalize<string>}`;
export type ColumnsHoldingPlaintext<Table extends { _: { columns: Record<string, unknown> } }> = Exclude<
  keyof Table["_"]["columns"],
  PlaintextFreeColumn
>;
type AssertNever<T extends never> = T;
export type NodeSecretKeysGuard = AssertNever<ColumnsHoldingPlaintext<typeof nodeSecretKeysTable>>;

/** The same rule over snake_case names, for the live-schema check. */
export function isPlaintextFreeColumnName(column: string): boolean {
  return ["kid", "node_id", "created_at", "retires_at"].includes(column) || column.endsWith("_sha256") || column.startsWith("wrapped_");
}
