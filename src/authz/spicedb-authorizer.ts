import { v1 } from "@authzed/authzed-node";
import type { SpiceDbServerConfig } from "../platform/config.ts";
import { CustosError, isCustosError } from "../platform/errors.ts";
import type { ReadinessProbe } from "../platform/readiness.ts";
import type { Authorizer, CheckRequest, Consistency, Relationship, RelationshipFilter, ZedToken } from "./authorizer.ts";
import { Coalescer, type ItemOutcome } from "../platform/coalescer.ts";
import { atLeastAsFresh, fullyConsistent, RevisionTracker } from "./revision-tracker.ts";
import { connectSpiceDb, loadSchema, type SpiceDbRpc } from "./spicedb-client.ts";
import { fromRelationship, toBulkItem, toFilter, toRelationship } from "./wire.ts";

export const DEFAULT_AUTHZ_TIMEOUT_MS = 2000;
export const DEFAULT_CHECK_BATCH = 64;

export interface AuthorizerHooks {
  /** Once per CheckBulkPermissions call, with its item count (tests, metrics). */
  readonly onCheckBulk?: (items: number) => void;
  /** Once per single CheckPermission call (only when coalescing is off). */
  readonly onCheckPermission?: () => void;
}

export interface SpiceDbAuthorizerOptions {
  /** Bound on every call, queueing included; past it the caller gets authz_unavailable. */
  readonly timeoutMs?: number;
  /** Largest CheckBulkPermissions call; a full queue is sent at once. */
  readonly maxBatch?: number;
  /** false sends one CheckPermission per check: the baseline the benchmark measures against. */
  readonly coalesce?: boolean;
  readonly hooks?: AuthorizerHooks;
}

const LATEST_WRITE: Consistency = { kind: "latest_write" };

function unavailable(operation: string, cause: unknown): CustosError {
  return new CustosError("authz_unavailable", { detail: "the authorization service is unavailable", cause: new Error(operation, { cause }) });
}

function decision(permissionship: v1.CheckPermissionResponse_Permissionship): boolean {
  switch (permissionship) {
    case v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION:
      return true;
    // The schema has no caveats, so a conditional answer means missing context: deny.
    case v1.CheckPermissionResponse_Permissionship.NO_PERMISSION:
    case v1.CheckPermissionResponse_Permissionship.CONDITIONAL_PERMISSION:
      return false;
    default:
      throw unavailable("check", new Error("unspecified permissionship"));
  }
}

function pairOutcome(pair: v1.CheckBulkPermissionsPair): ItemOutcome<boolean> {
  try {
    if (pair.response.oneofKind === "item") return { ok: true, value: decision(pair.response.item.permissionship) };
    const status = pair.response.oneofKind === "error" ? pair.response.error : undefined;
    return { ok: false, error: unavailable("check item", new Error(status?.message ?? "empty bulk item", { cause: status })) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Coalescer keys: one bulk call carries one consistency requirement. */
function consistencyKey(consistency: Consistency): string {
  switch (consistency.kind) {
    case "latest_write": return "latest_write";
    case "fully_consistent": return "fully_consistent";
    case "at_least_as_fresh": return `at_least_as_fresh:${consistency.token}`;
  }
}

/**
 * The Authorizer over SpiceDB (server or embedded). Fail-closed: every failure, timeout or
 * unexpected answer is CustosError `authz_unavailable`, never a decision. See
 * RevisionTracker for read-after-write consistency and Coalescer for check batching.
 */
export class SpiceDbAuthorizer implements Authorizer {
  readonly readiness: ReadinessProbe;
  private readonly timeoutMs: number;
  private readonly coalesce: boolean;
  private readonly hooks: AuthorizerHooks;
  private readonly revisions = new RevisionTracker();
  private readonly coalescer: Coalescer<v1.CheckBulkPermissionsRequestItem, boolean>;
  /** Writes run one after another, so the last token recorded is the newest (RevisionTracker). */
  private writeChain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly rpc: SpiceDbRpc, options: SpiceDbAuthorizerOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_AUTHZ_TIMEOUT_MS;
    this.coalesce = options.coalesce ?? true;
    this.hooks = options.hooks ?? {};
    this.coalescer = new Coalescer(
      (key, items) => this.runBulk(key, items),
      { maxBatch: options.maxBatch ?? DEFAULT_CHECK_BATCH, malformed: () => unavailable("check", new Error("bulk answer does not match its request")) },
    );
    this.readiness = {
      name: "authorizer",
      // ReadSchema fails until a schema is written, so "ready" means "can answer our checks".
      check: async () => { await this.bounded("readiness", () => this.rpc.readSchema(v1.ReadSchemaRequest.create({}))); },
    };
  }

  /** The newest revision this authorizer wrote (schema included), if any. */
  get latestToken(): ZedToken | undefined {
    return this.revisions.latestToken;
  }

  check(request: CheckRequest, consistency: Consistency = LATEST_WRITE): Promise<boolean> {
    const item = toBulkItem(request);
    if (!this.coalesce) return this.bounded("check", () => this.checkOne(item, consistency));
    return this.bounded("check", () => this.coalescer.submit(consistencyKey(consistency), item));
  }

  writeRelationships(touch: readonly Relationship[], remove: readonly Relationship[]): Promise<ZedToken> {
    const updates = [
      ...touch.map((rel) => v1.RelationshipUpdate.create({ operation: v1.RelationshipUpdate_Operation.TOUCH, relationship: toRelationship(rel) })),
      ...remove.map((rel) => v1.RelationshipUpdate.create({ operation: v1.RelationshipUpdate_Operation.DELETE, relationship: toRelationship(rel) })),
    ];
    return this.serializedWrite("write relationships", async () => {
      const response = await this.rpc.writeRelationships(v1.WriteRelationshipsRequest.create({ updates }));
      return response.writtenAt?.token;
    });
  }

  async readRelationships(filter: RelationshipFilter, consistency: Consistency = LATEST_WRITE): Promise<Relationship[]> {
    const request = v1.ReadRelationshipsRequest.create({ consistency: this.requirement(consistency), relationshipFilter: toFilter(filter) });
    const responses = await this.bounded("read relationships", () => this.rpc.readRelationships(request));
    return responses.map((response) => fromRelationship(response.relationship));
  }

  /** Writes (replaces) the schema; done once at start. Throws authz_unavailable. */
  writeSchema(schema: string): Promise<ZedToken> {
    return this.serializedWrite("write schema", async () => {
      const response = await this.rpc.writeSchema(v1.WriteSchemaRequest.create({ schema }));
      return response.writtenAt?.token;
    });
  }

  /** Fails queued checks and closes the connection (or frees the embedded engine). */
  close(): void {
    this.closed = true;
    this.coalescer.failQueued(unavailable("check", new Error("authorizer closed")));
    this.rpc.close();
  }

  private async checkOne(item: v1.CheckBulkPermissionsRequestItem, consistency: Consistency): Promise<boolean> {
    this.hooks.onCheckPermission?.();
    const response = await this.rpc.checkPermission(v1.CheckPermissionRequest.create({
      consistency: this.requirement(consistency),
      resource: item.resource,
      permission: item.permission,
      subject: item.subject,
    }));
    return decision(response.permissionship);
  }

  private async runBulk(key: string, items: readonly v1.CheckBulkPermissionsRequestItem[]): Promise<ItemOutcome<boolean>[]> {
    this.hooks.onCheckBulk?.(items.length);
    const response = await this.rpc.checkBulkPermissions(v1.CheckBulkPermissionsRequest.create({
      // Resolved now, at send time: a write that finished while the check was queued counts.
      consistency: this.requirementForKey(key),
      items: [...items],
    }));
    return response.pairs.map(pairOutcome);
  }

  private requirement(consistency: Consistency): v1.Consistency {
    switch (consistency.kind) {
      case "latest_write": return this.revisions.requirement();
      case "fully_consistent": return fullyConsistent();
      case "at_least_as_fresh": return atLeastAsFresh(consistency.token);
    }
  }

  private requirementForKey(key: string): v1.Consistency {
    if (key === "latest_write") return this.revisions.requirement();
    if (key === "fully_consistent") return fullyConsistent();
    return atLeastAsFresh(key.slice("at_least_as_fresh:".length));
  }

  /**
   * Queues a write behind the previous one. The queue moves on only when the RPC itself
   * settles (not when the caller's bound expires), so writes reach SpiceDB strictly in order.
   */
  private serializedWrite(operation: string, write: () => Promise<string | undefined>): Promise<ZedToken> {
    const settled = this.writeChain.then(async () => {
      try {
        if (this.closed) throw new Error("authorizer closed");
        const token = await write();
        if (token === undefined || token === "") throw new Error("no ZedToken in the answer");
        this.revisions.recordWrite(token);
        return token;
      } catch (error) {
        this.revisions.recordUnknownOutcome();
        throw error;
      }
    });
    this.writeChain = settled.catch(() => undefined);
    return this.bounded(operation, () => settled);
  }

  /** Races the call against the bound; every failure becomes authz_unavailable. */
  private async bounded<T>(operation: string, call: () => Promise<T>): Promise<T> {
    // A closed embedded engine has freed its native handle: never call into it again.
    if (this.closed) throw unavailable(operation, new Error("authorizer closed"));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => { reject(new Error(`timed out after ${this.timeoutMs} ms`)); }, this.timeoutMs);
    });
    try {
      return await Promise.race([call(), timeout]);
    } catch (error) {
      if (isCustosError(error) && error.code === "authz_unavailable") throw error;
      throw unavailable(operation, error);
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface OpenAuthorizerOptions extends SpiceDbAuthorizerOptions {
  /** The configured server; undefined starts the embedded engine. */
  readonly server: SpiceDbServerConfig | undefined;
  /** Directory holding schema.zed (Config.policiesDir). */
  readonly policiesDir: string;
}

/**
 * Connects (or starts the embedded engine), writes policies/schema.zed and returns the
 * authorizer, for the composition root. Throws authz_unavailable if the schema cannot be written.
 */
export async function openSpiceDbAuthorizer(options: OpenAuthorizerOptions): Promise<SpiceDbAuthorizer> {
  const schema = await loadSchema(options.policiesDir);
  const rpc = await connectSpiceDb(options.server, { deadlineMs: options.timeoutMs ?? DEFAULT_AUTHZ_TIMEOUT_MS });
  const authorizer = new SpiceDbAuthorizer(rpc, options);
  try {
    await authorizer.writeSchema(schema);
  } catch (error) {
    authorizer.close();
    throw error;
  }
  return authorizer;
}
