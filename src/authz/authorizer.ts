import type { ReadinessProbe } from "../platform/readiness.ts";
import type { ObjectId, ObjectRef, ObjectType } from "./object-ids.ts";

/**
 * The authorization port. Services ask it questions in terms of ObjectRefs built by
 * object-ids.ts, so a raw name can never reach SpiceDB. The SpiceDB adapter is
 * SpiceDbAuthorizer; see policies/schema.zed for the model.
 */

export type Permission = "act" | "administer" | "audit" | "read" | "write";
export type Relation = "domain" | "admin" | "auditor" | "reader";

/** An opaque SpiceDB revision ("ZedToken"): a write returns one, a read may demand one. */
export type ZedToken = string;

export interface CheckRequest {
  readonly resource: ObjectRef;
  readonly permission: Permission;
  readonly subject: ObjectRef;
}

export interface Relationship {
  readonly resource: ObjectRef;
  readonly relation: Relation;
  readonly subject: ObjectRef;
}

export interface RelationshipFilter {
  readonly resourceType: ObjectType;
  readonly resourceId?: ObjectId;
  readonly relation?: Relation;
  readonly subject?: ObjectRef;
}

/**
 * How fresh an answer must be.
 * * `latest_write` (the default): at least as fresh as the newest write this authorizer made,
 *   so a grant revoked through it is refused on the very next check.
 * * `at_least_as_fresh`: at least as fresh as a token the caller kept (e.g. from another replica).
 * * `fully_consistent`: the newest data SpiceDB has, bypassing its caches; slower.
 */
export type Consistency =
  | { readonly kind: "latest_write" }
  | { readonly kind: "at_least_as_fresh"; readonly token: ZedToken }
  | { readonly kind: "fully_consistent" };

/**
 * For the decisions about people (domain admins and auditors, who may act on a node). Another
 * replica may have written the relationship a moment ago, and this one has no token for it:
 * SpiceDB's default picks a recent cached revision, which would deny a new admin, or still
 * allow a removed one, for seconds. These checks are rare (admin requests), so they pay for
 * the newest data; the node read path carries the secret's stored revision instead.
 */
export const FOR_PEOPLE: Consistency = { kind: "fully_consistent" };

export interface Authorizer {
  /**
   * True only for a definite HAS_PERMISSION. Throws CustosError `authz_unavailable` when SpiceDB
   * cannot answer (unreachable, timed out, item error): never "allowed" by default.
   */
  check(request: CheckRequest, consistency?: Consistency): Promise<boolean>;
  /**
   * Touches and deletes in one atomic WriteRelationships call; returns the revision written.
   * Throws `authz_unavailable`.
   */
  writeRelationships(touch: readonly Relationship[], remove: readonly Relationship[]): Promise<ZedToken>;
  /** Every relationship matching the filter. Throws `authz_unavailable`. */
  readRelationships(filter: RelationshipFilter, consistency?: Consistency): Promise<Relationship[]>;
  /** For /readyz: resolves when SpiceDB answers with the schema loaded. */
  readonly readiness: ReadinessProbe;
}

/** Convenience for callers building grants: `resource#relation@subject`. */
export function relationship(resource: ObjectRef, relation: Relation, subject: ObjectRef): Relationship {
  return { resource, relation, subject };
}

/** `type:id#relation@type:id`, the notation SpiceDB's own tools use; for logs and sets. */
export function relationshipKey(rel: Relationship): string {
  return `${rel.resource.type}:${rel.resource.id}#${rel.relation}@${rel.subject.type}:${rel.subject.id}`;
}
