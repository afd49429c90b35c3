import type { Database, SqlSession } from "../platform/db/database.ts";
import type { nodeSecretKeysTable, nodesTable } from "./nodes.table.ts";

export type NodeStatus = "active" | "quarantined" | "decommissioned";

export interface NodeRecord {
  readonly id: string;
  readonly domain: string;
  readonly name: string;
  readonly status: NodeStatus;
}

export interface NodeKeyRecord {
  readonly kid: string;
  readonly nodeId: string;
  readonly bearerSecretSha256: string;
  readonly wrappedWrapKey: string;
  /** Epoch seconds after which the key no longer authenticates; undefined while current. */
  readonly retiresAt: number | undefined;
  readonly node: NodeRecord;
}

export interface NewNodeKey {
  readonly kid: string;
  readonly nodeId: string;
  readonly bearerSecretSha256: string;
  readonly wrappedWrapKey: string;
}

/** One of a node's keys as the read APIs show it: its kid and ages, never key material. */
export interface NodeKeyAges {
  readonly kid: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601; undefined while the key is current. */
  readonly retiresAt: string | undefined;
}

/** A node as the read APIs show it. */
export interface NodeSummary extends NodeRecord {
  /** ISO 8601: when it was enrolled. */
  readonly enrolledAt: string;
  /** ISO 8601: set once it is decommissioned. */
  readonly decommissionedAt: string | undefined;
  /** Its newest keys, newest first (at most NODE_KEYS_SHOWN). */
  readonly keys: readonly NodeKeyAges[];
}

/** How many of a node's keys the read APIs show: the newest ones, so a long-lived node's page stays small. */
export const NODE_KEYS_SHOWN = 5;

/** The nodes capability's port onto nodes, node_secret_keys and node_rotation_nonces. */
export interface NodeRepository {
  insertNode(node: NodeRecord, key: NewNodeKey): Promise<void>;
  rotateKey(currentKid: string, key: NewNodeKey, graceEndsAt: number): Promise<boolean>;
  consumeRotationNonce(nodeId: string, nonce: string, expiresAt: number): Promise<boolean>;
  listKeys(nodeId: string): Promise<{ kid: string; retiresAt: number | undefined }[]>;
  findKey(kid: string): Promise<NodeKeyRecord | undefined>;
  findNode(id: string): Promise<NodeRecord | undefined>;
  /** Sets active or quarantined; a decommissioned node is never changed (false then, or when there is no such node). */
  setStatus(id: string, status: Exclude<NodeStatus, "decommissioned">): Promise<boolean>;
  /** A domain's nodes with ids after `after` (a node id), in id order, at most `limit`. */
  listNodes(domain: string, after: string | undefined, limit: number): Promise<NodeSummary[]>;
  findNodeSummary(domain: string, id: string): Promise<NodeSummary | undefined>;
  /** How many of the domain's nodes are not decommissioned. */
  countNodes(domain: string): Promise<number>;
  /**
   * In one transaction: every key of the node that still authenticates retires at `at` (epoch
   * seconds), and the node is decommissioned (its first decommission time is kept).
   */
  decommission(id: string, at: number): Promise<void>;
}

/**
 * A key with its node, as every lookup of a bearer's kid selects it: from node_secret_keys `k`
 * joined to nodes `n`. Exported for the read path, which fetches the secret's row in the same
 * query (src/secrets/secret-repo.ts).
 */
export const NODE_KEY_COLUMNS = `k.kid, k.node_id AS "nodeId", k.bearer_secret_sha256 AS "bearerSecretSha256", k.wrapped_wrap_key AS "wrappedWrapKey",
  extract(epoch FROM k.retires_at)::float8 AS "retiresAt", n.domain, n.name, n.status`;

/** Typed by the tables' shapes; retiresAt is read as epoch seconds (float8, a string on some drivers). */
export type NodeKeyRow = Pick<typeof nodeSecretKeysTable.$inferSelect, "kid" | "nodeId" | "bearerSecretSha256" | "wrappedWrapKey">
  & Pick<typeof nodesTable.$inferSelect, "domain" | "name" | "status">
  & { retiresAt: number | string | null };

export function nodeKeyOf(row: NodeKeyRow): NodeKeyRecord {
  return {
    kid: row.kid,
    nodeId: row.nodeId,
    bearerSecretSha256: row.bearerSecretSha256,
    wrappedWrapKey: row.wrappedWrapKey,
    retiresAt: row.retiresAt === null ? undefined : Number(row.retiresAt),
    node: { id: row.nodeId, domain: row.domain, name: row.name, status: row.status },
  };
}

/** ISO 8601 in UTC with milliseconds, the same spelling on PostgreSQL and PGlite. */
const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** The columns of a NodeSummary; the newest keys travel as one JSON text (the same on both drivers). */
const SUMMARY_COLUMNS = `n.id::text AS id, n.domain, n.name, n.status,
  ${iso("n.created_at")} AS "enrolledAt", ${iso("n.decommissioned_at")} AS "decommissionedAt",
  COALESCE((SELECT json_agg(json_build_object('kid', k.kid, 'createdAt', ${iso("k.created_at")}, 'retiresAt', ${iso("k.retires_at")}) ORDER BY k.created_at DESC, k.kid)
     FROM (SELECT kid, created_at, retires_at FROM node_secret_keys WHERE node_id = n.id ORDER BY created_at DESC, kid LIMIT ${String(NODE_KEYS_SHOWN)}) k), '[]')::text AS keys`;

type SummaryRow = Pick<typeof nodesTable.$inferSelect, "domain" | "name" | "status"> & {
  id: string;
  enrolledAt: string;
  decommissionedAt: string | null;
  keys: string;
};

function summaryOf(row: SummaryRow): NodeSummary {
  const keys = JSON.parse(row.keys) as { kid: string; createdAt: string; retiresAt: string | null }[];
  return {
    id: row.id,
    domain: row.domain,
    name: row.name,
    status: row.status,
    enrolledAt: row.enrolledAt,
    decommissionedAt: row.decommissionedAt ?? undefined,
    keys: keys.map((key) => ({ kid: key.kid, createdAt: key.createdAt, retiresAt: key.retiresAt ?? undefined })),
  };
}

/**
 * SQL through the Database port (its deadline on every statement, its transactions for the
 * two-table writes); the shapes are those of nodes.table.ts.
 */
export function createNodeRepository(db: Database): NodeRepository {
  return {
    async insertNode(node: NodeRecord, key: NewNodeKey): Promise<void> {
      await db.transaction(async (tx) => {
        await tx.query("INSERT INTO nodes (id, domain, name, status) VALUES ($1, $2, $3, $4)", [node.id, node.domain, node.name, node.status]);
        await insertKey(tx, key);
      });
    },

    /**
     * Supersedes `currentKid` with `key`, atomically: the current key starts its grace period
     * and the new one becomes current. Only a key that is still current may be superseded, so
     * a key already in its grace period (or a concurrent rotation that lost the race) changes
     * nothing and gets false: an old key can never evict the node's current one.
     */
    async rotateKey(currentKid: string, key: NewNodeKey, graceEndsAt: number): Promise<boolean> {
      return db.transaction(async (tx) => {
        const superseded = await tx.query(
          "UPDATE node_secret_keys SET retires_at = to_timestamp($3) WHERE kid = $1 AND node_id = $2 AND retires_at IS NULL RETURNING kid",
          [currentKid, key.nodeId, graceEndsAt],
        );
        if (superseded.length !== 1) return false;
        await insertKey(tx, key);
        return true;
      });
    },

    /**
     * Remembers a rotation request's nonce until `expiresAt`; false when this node already
     * used it (a replay). The primary key decides, so two replicas racing on one nonce cannot
     * both accept it. Expired nonces are dropped on the way: their timestamps refuse them.
     */
    async consumeRotationNonce(nodeId: string, nonce: string, expiresAt: number): Promise<boolean> {
      await db.query("DELETE FROM node_rotation_nonces WHERE expires_at < now()");
      const inserted = await db.query(
        "INSERT INTO node_rotation_nonces (node_id, nonce, expires_at) VALUES ($1, $2, to_timestamp($3)) ON CONFLICT DO NOTHING RETURNING nonce",
        [nodeId, nonce, expiresAt],
      );
      return inserted.length === 1;
    },

    /** The node's keys, newest first (for operators and tests; no key material). */
    async listKeys(nodeId: string): Promise<{ kid: string; retiresAt: number | undefined }[]> {
      const rows = await db.query<{ kid: string; retires_at: number | string | null }>(
        "SELECT kid, extract(epoch FROM retires_at)::float8 AS retires_at FROM node_secret_keys WHERE node_id = $1 ORDER BY created_at DESC, kid",
        [nodeId],
      );
      return rows.map((row) => ({ kid: row.kid, retiresAt: row.retires_at === null ? undefined : Number(row.retires_at) }));
    },

    async findKey(kid: string): Promise<NodeKeyRecord | undefined> {
      const [row] = await db.query<NodeKeyRow>(`SELECT ${NODE_KEY_COLUMNS} FROM node_secret_keys k JOIN nodes n ON n.id = k.node_id WHERE k.kid = $1`, [kid]);
      return row === undefined ? undefined : nodeKeyOf(row);
    },

    async findNode(id: string): Promise<NodeRecord | undefined> {
      const [row] = await db.query<NodeRecord>("SELECT id::text AS id, domain, name, status FROM nodes WHERE id = $1", [id]);
      return row;
    },

    async setStatus(id, status) {
      const changed = await db.query("UPDATE nodes SET status = $2 WHERE id = $1 AND status <> 'decommissioned' RETURNING id", [id, status]);
      return changed.length === 1;
    },

    async listNodes(domain, after, limit) {
      const rows = after === undefined
        ? await db.query<SummaryRow>(`SELECT ${SUMMARY_COLUMNS} FROM nodes n WHERE n.domain = $1 ORDER BY n.id LIMIT $2`, [domain, limit])
        : await db.query<SummaryRow>(`SELECT ${SUMMARY_COLUMNS} FROM nodes n WHERE n.domain = $1 AND n.id > $3::uuid ORDER BY n.id LIMIT $2`, [domain, limit, after]);
      return rows.map(summaryOf);
    },

    async findNodeSummary(domain, id) {
      const [row] = await db.query<SummaryRow>(`SELECT ${SUMMARY_COLUMNS} FROM nodes n WHERE n.domain = $1 AND n.id = $2::uuid`, [domain, id]);
      return row === undefined ? undefined : summaryOf(row);
    },

    async countNodes(domain) {
      const [row] = await db.query<{ n: number | string }>("SELECT count(*) AS n FROM nodes WHERE domain = $1 AND status <> 'decommissioned'", [domain]);
      return Number(row?.n ?? 0);
    },

    async decommission(id, at) {
      await db.transaction(async (tx) => {
        await tx.query(
          "UPDATE node_secret_keys SET retires_at = to_timestamp($2) WHERE node_id = $1 AND (retires_at IS NULL OR retires_at > to_timestamp($2))",
          [id, at],
        );
        await tx.query(
          "UPDATE nodes SET status = 'decommissioned', decommissioned_at = COALESCE(decommissioned_at, to_timestamp($2)) WHERE id = $1",
          [id, at],
        );
      });
    },
  };
}

async function insertKey(tx: SqlSession, key: NewNodeKey): Promise<void> {
  await tx.query(
    "INSERT INTO node_secret_keys (kid, node_id, bearer_secret_sha256, wrapped_wrap_key) VALUES ($1, $2, $3, $4)",
    [key.kid, key.nodeId, key.bearerSecretSha256, key.wrappedWrapKey],
  );
}
