import { NODE_KEY_COLUMNS, nodeKeyOf, type NodeKeyRecord, type NodeKeyRow } from "../nodes/node-repo.ts";
import { Coalescer } from "../platform/coalescer.ts";
import type { SqlSession } from "../platform/db/database.ts";
import { DEFAULT_QUERY_TIMEOUT_MS, withinDeadline } from "../platform/db/deadlines.ts";
import { CustosError } from "../platform/errors.ts";
import type { secretsTable } from "./secrets.table.ts";

/** A secret's row (secrets.table.ts), without its timestamps. */
export interface SecretRecord {
  readonly domain: string;
  readonly name: string;
  /** The backend version Custos recorded at the last write. */
  readonly version: number;
  /** The SpiceDB revision of the last change to its readers; undefined for rows written before 0007. */
  readonly authzRevision: string | undefined;
}

/** What an admin or auditor may see of a secret's row: never its value, which only the backend holds. */
export interface SecretMetadata {
  readonly name: string;
  readonly version: number;
  /** ISO 8601, UTC. */
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly authzRevision: string | undefined;
}

/** What a node's read looks up first: the bearer's key with its node, and the named secret of that node's domain. */
export interface KeyAndSecret {
  readonly key: NodeKeyRecord;
  /** Undefined when the node's domain has no secret of that name. */
  readonly secret: SecretRecord | undefined;
}

/** The secrets capability's port onto its table. */
export interface SecretRepository {
  find(domain: string, name: string): Promise<SecretRecord | undefined>;
  /**
   * The read path's one round trip: the key of `kid` with its node, and the secret `name` of
   * that node's domain, as they stand at one instant (the same statement). Undefined when no
   * key has that kid. Nothing is decided here: authentication still checks the key.
   */
  findWithNodeKey(kid: string, name: string): Promise<KeyAndSecret | undefined>;
  /** One secret's metadata, or undefined. */
  describe(domain: string, name: string): Promise<SecretMetadata | undefined>;
  /** Up to `limit` of the domain's secrets in name order, strictly after `after` (for cursor paging). */
  list(domain: string, after: string | undefined, limit: number): Promise<SecretMetadata[]>;
  /** Removes the secret's row; false when there was none. */
  remove(domain: string, name: string): Promise<boolean>;
  /** Records a write; true when the secret is new, false when a version replaced another. */
  upsert(record: SecretRecord & { readonly authzRevision: string }): Promise<boolean>;
  /** Kept with the secret after a change to its readers (see the read path). */
  setAuthzRevision(domain: string, name: string, revision: string): Promise<void>;
  /**
   * Cleared before a change to its readers reaches SpiceDB: until the new revision is stored,
   * reads check fully consistent and no remembered decision applies (read-decisions.ts).
   */
  clearAuthzRevision(domain: string, name: string): Promise<void>;
  /** How many secrets the domain has (for GET /v1/domains/{domain}). */
  countInDomain(domain: string): Promise<number>;
}

/**
 * SQL through the Database port (which puts the query deadline on every statement), the same
 * style as the node repository; the columns are those of secrets.table.ts.
 */
const METADATA_COLUMNS = `name, version, authz_revision AS "authzRevision",
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt",
  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "updatedAt"`;

type MetadataRow = Pick<typeof secretsTable.$inferSelect, "name" | "version" | "authzRevision" | "createdAt" | "updatedAt">;

function metadataOf(row: MetadataRow): SecretMetadata {
  return { name: row.name, version: row.version, createdAt: row.createdAt, updatedAt: row.updatedAt, authzRevision: row.authzRevision ?? undefined };
}

/** The most lookups of the read path one statement carries. */
const KEY_LOOKUP_BATCH = 64;

type KeyAndSecretRow = NodeKeyRow & { i: number; secretVersion: number | null; secretRevision: string | null; secretFound: boolean };

interface KeyLookup {
  readonly kid: string;
  readonly name: string;
}

/**
 * The read path's lookups, every one queued meanwhile in one statement (src/platform/coalescer.ts):
 * under load a read then costs a share of one statement, one socket write and one round of the
 * server's work rather than each of its own. Each lookup is matched to its row by its position
 * in the arrays; a kid with no key has no row.
 */
function keyLookups(db: SqlSession): Coalescer<KeyLookup, KeyAndSecret | undefined> {
  return new Coalescer(
    async (_key, lookups) => {
      const rows = await db.query<KeyAndSecretRow>(
        `SELECT q.i::int AS i, ${NODE_KEY_COLUMNS},
                s.version AS "secretVersion", s.authz_revision AS "secretRevision", (s.name IS NOT NULL) AS "secretFound"
           FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS q(kid, name, i)
           JOIN node_secret_keys k ON k.kid = q.kid JOIN nodes n ON n.id = k.node_id
           LEFT JOIN secrets s ON s.domain = n.domain AND s.name = q.name`,
        [lookups.map((lookup) => lookup.kid), lookups.map((lookup) => lookup.name)],
      );
      const byPosition = new Map(rows.map((row) => [row.i, row]));
      return lookups.map((lookup, index) => {
        const row = byPosition.get(index + 1);
        return { ok: true, value: row === undefined ? undefined : keyAndSecretOf(row, lookup.name) };
      });
    },
    {
      maxBatch: KEY_LOOKUP_BATCH,
      malformed: () => new CustosError("store_unavailable", { detail: "a batched key lookup did not answer every lookup" }),
      spanAttributePrefix: "custos.lookup",
    },
  );
}

function keyAndSecretOf(row: KeyAndSecretRow, name: string): KeyAndSecret {
  const key = nodeKeyOf(row);
  const secret = row.secretFound && row.secretVersion !== null
    ? { domain: key.node.domain, name, version: row.secretVersion, authzRevision: row.secretRevision ?? undefined }
    : undefined;
  return { key, secret };
}

export interface SecretRepositoryOptions {
  /**
   * The longest a read's lookup may take from the call, waiting behind a statement in flight
   * included (DEFAULT_QUERY_TIMEOUT_MS, the bound each statement had before lookups were
   * batched). Without it, a lookup queued behind a statement the store never answers would
   * wait for that statement's deadline and then for its own.
   */
  readonly lookupDeadlineMs?: number;
}

export function createSecretRepository(db: SqlSession, options: SecretRepositoryOptions = {}): SecretRepository {
  const lookups = keyLookups(db);
  const lookupDeadlineMs = options.lookupDeadlineMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  return {
    async describe(domain, name) {
      const [row] = await db.query<MetadataRow>(`SELECT ${METADATA_COLUMNS} FROM secrets WHERE domain = $1 AND name = $2`, [domain, name]);
      return row === undefined ? undefined : metadataOf(row);
    },
    async list(domain, after, limit) {
      // COLLATE "C": byte order, the same in PostgreSQL and PGlite whatever the database's
      // locale, so the cursor's `>` and the ORDER BY agree.
      const rows = await db.query<MetadataRow>(
        `SELECT ${METADATA_COLUMNS} FROM secrets
          WHERE domain = $1 AND ($2::text IS NULL OR name COLLATE "C" > $2::text COLLATE "C")
          ORDER BY name COLLATE "C" LIMIT $3`,
        [domain, after ?? null, limit],
      );
      return rows.map(metadataOf);
    },
    async remove(domain, name) {
      const rows = await db.query("DELETE FROM secrets WHERE domain = $1 AND name = $2 RETURNING 1 AS removed", [domain, name]);
      return rows.length > 0;
    },
    async find(domain, name) {
      const [row] = await db.query<Pick<typeof secretsTable.$inferSelect, "version" | "authzRevision">>(
        `SELECT version, authz_revision AS "authzRevision" FROM secrets WHERE domain = $1 AND name = $2`,
        [domain, name],
      );
      if (row === undefined) return undefined;
      return { domain, name, version: row.version, authzRevision: row.authzRevision ?? undefined };
    },
    findWithNodeKey(kid, name) {
      // Answered by the deadline; a late answer or failure of the statement is dropped.
      return withinDeadline(lookupDeadlineMs, lookups.submit("", { kid, name }));
    },
    async upsert(record) {
      const [row] = await db.query<{ created: boolean }>(
        `INSERT INTO secrets (domain, name, version, authz_revision) VALUES ($1, $2, $3, $4)
         ON CONFLICT (domain, name) DO UPDATE SET version = EXCLUDED.version, authz_revision = EXCLUDED.authz_revision, updated_at = now()
         RETURNING (xmax = 0) AS created`,
        // xmax = 0 only for a freshly inserted row: it tells created from replaced in one statement.
        [record.domain, record.name, record.version, record.authzRevision],
      );
      return row?.created === true;
    },
    async setAuthzRevision(domain, name, revision) {
      await db.query("UPDATE secrets SET authz_revision = $3 WHERE domain = $1 AND name = $2", [domain, name, revision]);
    },
    async clearAuthzRevision(domain, name) {
      await db.query("UPDATE secrets SET authz_revision = NULL WHERE domain = $1 AND name = $2", [domain, name]);
    },
    async countInDomain(domain) {
      const [row] = await db.query<{ n: number | string }>("SELECT count(*) AS n FROM secrets WHERE domain = $1", [domain]);
      return Number(row?.n ?? 0);
    },
  };
}
