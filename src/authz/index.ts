/** Authorization: the port, the SpiceDB adapter and the one object-id encoding. */
export type { Authorizer, CheckRequest, Consistency, Permission, Relation, Relationship, RelationshipFilter, ZedToken } from "./authorizer.ts";
export { relationship, relationshipKey } from "./authorizer.ts";
export type { ObjectId, ObjectRef, ObjectType } from "./object-ids.ts";
export { decodeObjectId, domainRef, encodeObjectId, nodeRef, secretRef, userRef } from "./object-ids.ts";
export { SpiceDbAuthorizer, openSpiceDbAuthorizer, DEFAULT_AUTHZ_TIMEOUT_MS, DEFAULT_CHECK_BATCH } from "./spicedb-authorizer.ts";
export type { AuthorizerHooks, OpenAuthorizerOptions, SpiceDbAuthorizerOptions } from "./spicedb-authorizer.ts";
export { connectSpiceDb, loadSchema } from "./spicedb-client.ts";
export type { SpiceDbRpc } from "./spicedb-client.ts";
export { SpiceDbDomainMembership } from "./domain-membership.ts";
