import type { Database, SqlSession } from "../platform/db/database.ts";
import { CustosError } from "../platform/errors.ts";
import type { Authorizer, Relation, Relationship } from "./authorizer.ts";
import { parseObjectId, type ObjectType } from "./object-ids.ts";

/**
 * The embedded SpiceDB engine keeps relationships in process memory: a restart would forget
 * every admin, auditor, node membership and reader. When the engine is embedded, every write
 * goes to the `authz_relationships` table in the same database transaction that hands it to
 * the engine, and a starting process restores the engine from that table before it serves.
 *
 * With a SpiceDB server none of this applies: the server's datastore is the durable copy and
 * is shared by every replica.
 */

interface RelationshipRow {
  readonly resource_type: string;
  readonly resource_id: string;
  readonly relation: string;
  readonly subject_type: string;
  readonly subject_id: string;
}

const OBJECT_TYPES: readonly ObjectType[] = ["user", "node", "domain", "secret"];
const RELATIONS: readonly Relation[] = ["domain", "admin", "auditor", "reader"];

function toParams(rel: Relationship): string[] {
  return [rel.resource.type, rel.resource.id, rel.relation, rel.subject.type, rel.subject.id];
}

function objectType(value: string): ObjectType {
  const type = OBJECT_TYPES.find((candidate) => candidate === value);
  if (type === undefined) throw new TypeError(`authz_relationships holds an unknown object type: ${value}`);
  return type;
}

function fromRow(row: RelationshipRow): Relationship {
  const relation = RELATIONS.find((candidate) => candidate === row.relation);
  if (relation === undefined) throw new TypeError(`authz_relationships holds an unknown relation: ${row.relation}`);
  return {
    resource: { type: objectType(row.resource_type), id: parseObjectId(row.resource_id) },
    relation,
    subject: { type: objectType(row.subject_type), id: parseObjectId(row.subject_id) },
  };
}

/** Stores touches (new ones only are returned) and deletes removals (existing ones only are returned). */
async function storeChange(
  tx: SqlSession,
  touch: readonly Relationship[],
  remove: readonly Relationship[],
): Promise<{ added: Relationship[]; removed: Relationship[] }> {
  const added: Relationship[] = [];
  const removed: Relationship[] = [];
  for (const rel of touch) {
    const rows = await tx.query(
      `INSERT INTO authz_relationships (resource_type, resource_id, relation, subject_type, subject_id)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1 AS inserted`,
      toParams(rel),
    );
    if (rows.length > 0) added.push(rel);
  }
  for (const rel of remove) {
    const rows = await tx.query(
      `DELETE FROM authz_relationships
        WHERE resource_type = $1 AND resource_id = $2 AND relation = $3 AND subject_type = $4 AND subject_id = $5
        RETURNING 1 AS deleted`,
      toParams(rel),
    );
    if (rows.length > 0) removed.push(rel);
  }
  return { added, removed };
}

/**
 * Wraps the embedded engine's authorizer so that every write is durable. The database rows
 * and the engine change together: the engine is written inside the transaction (a refused
 * engine write rolls the rows back), and if the commit itself fails the engine write is undone.
 */
export function durableRelationships(engine: Authorizer & { close(): void }, db: Database): Authorizer & { close(): void } {
  return {
    readiness: engine.readiness,
    close: () => { engine.close(); },
    check: (request, consistency) => engine.check(request, consistency),
    readRelationships: (filter, consistency) => engine.readRelationships(filter, consistency),
    async writeRelationships(touch, remove) {
      let engineChange: { added: Relationship[]; removed: Relationship[] } | undefined;
      try {
        return await db.transaction(async (tx) => {
          const change = await storeChange(tx, touch, remove);
          const token = await engine.writeRelationships(touch, remove);
          engineChange = change;
          return token;
        });
      } catch (error) {
        if (engineChange !== undefined) {
          // The engine has the change but the database does not: undo it in the engine, so
          // that what this process answers matches what the next start will restore.
          await engine.writeRelationships(engineChange.removed, engineChange.added).catch(() => undefined);
        }
        if (error instanceof CustosError) throw error;
        throw new CustosError("store_unavailable", { detail: "the relationship could not be stored", cause: error });
      }
    },
  };
}

const RESTORE_BATCH = 500;

/** Loads every stored relationship into a fresh engine; returns how many. */
export async function restoreRelationships(engine: Authorizer, db: Database): Promise<number> {
  let restored = 0;
  let after: string[] = ["", "", "", "", ""];
  for (;;) {
    const rows = await db.query<RelationshipRow>(
      `SELECT resource_type, resource_id, relation, subject_type, subject_id FROM authz_relationships
        WHERE (resource_type, resource_id, relation, subject_type, subject_id) > ($1, $2, $3, $4, $5)
        ORDER BY resource_type, resource_id, relation, subject_type, subject_id LIMIT ${String(RESTORE_BATCH)}`,
      after,
    );
    if (rows.length === 0) return restored;
    await engine.writeRelationships(rows.map(fromRow), []);
    restored += rows.length;
    const last = rows[rows.length - 1];
    if (last === undefined) return restored;
    after = [last.resource_type, last.resource_id, last.relation, last.subject_type, last.subject_id];
  }
}

/** Any number, shared by every process of one deployment: the embedded engine's owner. */
export const EMBEDDED_ENGINE_LOCK_KEY = 0x637573746f73;

export class EmbeddedEngineInUse extends Error {
  constructor() {
    super(
      "another custos process already serves this database (with the embedded SpiceDB engine, or with a SpiceDB server); " +
        "the embedded engine holds relationships in one process only: to run several replicas, set SPICEDB_ENDPOINT " +
        "(and SPICEDB_TOKEN) to a SpiceDB server that every replica shares",
    );
    this.name = "EmbeddedEngineInUse";
  }
}

/** A replica configured with a SpiceDB server, refused while an embedded-engine process serves the database. */
export class EmbeddedEngineServing extends Error {
  constructor() {
    super(
      "a custos process with the embedded SpiceDB engine serves this database: its relationships are not on the " +
        "SpiceDB server at SPICEDB_ENDPOINT, so replicas cannot join it; stop it first (every replica then uses SPICEDB_ENDPOINT)",
    );
    this.name = "EmbeddedEngineServing";
  }
}
