import type { Database, SqlSession } from "../platform/db/database.ts";
import type { nodeSecretKeysTable, nodesTable } from "./nodes.table.ts";

export type NodeStatus = "active" | "quarantined";

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

/** The nodes capability's port onto nodes, node_secret_keys and node_rotation_nonces. */
export interface NodeRepository {
  insertNode(node: NodeRecord, key: NewNodeKey): Promise<void>;
  rotateKey(currentKid: string, key: NewNodeKey, graceEndsAt: number): Promise<boolean>;
  consumeRotationNonce(nodeId: string, nonce: string, expiresAt: number): Promise<boolean>;
  listKeys(nodeId: string): Promise<{ kid: string; retiresAt: number | undefined }[]>;
  findKey(kid: string): Promise<NodeKeyRecord | undefined>;
  findNode(id: string): Promise<NodeRecord | undefined>;
  setStatus(id: string, status: NodeStatus): Promise<void>;
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
      // Typed by the tables' shapes; retiresAt is read as epoch seconds (float8, a string on some drivers).
      const [row] = await db.query<
        Pick<typeof nodeSecretKeysTable.$inferSelect, "kid" | "nodeId" | "bearerSecretSha256" | "wrappedWrapKey">
        & Pick<typeof nodesTable.$inferSelect, "domain" | "name" | "status">
        & { retiresAt: number | string | null }
      >(
        `SELECT k.kid, k.node_id AS "nodeId", k.bearer_secret_sha256 AS "bearerSecretSha256", k.wrapped_wrap_key AS "wrappedWrapKey",
                extract(epoch FROM k.retires_at)::float8 AS "retiresAt",
                n.domain, n.name, n.status
           FROM node_secret_keys k JOIN nodes n ON n.id = k.node_id WHERE k.kid = $1`,
        [kid],
      );
      if (row === undefined) return undefined;
      return {
        kid: row.kid,
        nodeId: row.nodeId,
        bearerSecretSha256: row.bearerSecretSha256,
        wrappedWrapKey: row.wrappedWrapKey,
        retiresAt: row.retiresAt === null ? undefined : Number(row.retiresAt),
        node: { id: row.nodeId, domain: row.domain, name: row.name, status: row.status },
      };
    },

    async findNode(id: string): Promise<NodeRecord | undefined> {
      const [row] = await db.query<NodeRecord>("SELECT id::text AS id, domain, name, status FROM nodes WHERE id = $1", [id]);
      return row;
    },

    async setStatus(id: string, status: NodeStatus): Promise<void> {
      await db.query("UPDATE nodes SET status = $2 WHERE id = $1", [id, status]);
    },
  };
}

async function insertKey(tx: SqlSession, key: NewNodeKey): Promise<void> {
  await tx.query(
    "INSERT INTO node_secret_keys (kid, node_id, bearer_secret_sha256, wrapped_wrap_key) VALUES ($1, $2, $3, $4)",
    [key.kid, key.nodeId, key.bearerSecretSha256, key.wrappedWrapKey],
  );
}
