import { randomUUID } from "node:crypto";
import { actorOf, authorizeElevated, type AuthorizeElevatedDependencies } from "../access/elevated-action.ts";
import type { AuditAppender } from "../audit/audit-port.ts";
import { auditResource, type Actor } from "../audit/audit-vocabulary.ts";
import { relationship, type Authorizer } from "../authz/authorizer.ts";
import { domainRef, nodeRef } from "../authz/object-ids.ts";
import type { UserCredential } from "../identity/credentials.ts";
import type { KeyWrapper } from "../platform/key-wrapping/key-wrapper.ts";
import type { NodeEvents } from "./node-events.ts";
import { issueNodeKey } from "./node-keys.ts";
import type { NodeRepository } from "./node-repo.ts";

export interface RegisterNodeDependencies {
  readonly audit: AuditAppender;
  readonly authorizer: Pick<Authorizer, "writeRelationships">;
  readonly wrapper: KeyWrapper;
  readonly nodes: Pick<NodeRepository, "insertNode">;
}

export interface RegisterNodeInput {
  readonly actor: Actor;
  readonly domain: string;
  readonly nodeId: string;
  readonly name: string;
  readonly requestId: string;
}

export interface EnrolledNode {
  readonly nodeId: string;
  readonly kid: string;
  /** base64url; shown once, never stored. */
  readonly nsk: string;
}

/**
 * The effect of enrolling a node, for an actor already authorized (the API's admin, the dev
 * seeder): a first key, the audit record, the domain membership, the node.
 */
export async function registerNode(deps: RegisterNodeDependencies, input: RegisterNodeInput): Promise<EnrolledNode> {
  const { actor, domain, nodeId, name, requestId } = input;
  // Wrapping the new wrap_key changes nothing anywhere; it comes first so that a
  // backend that cannot answer refuses before anything is recorded as granted.
  const key = await issueNodeKey(deps.wrapper, nodeId);
  // Audited before any write: a record that cannot commit leaves no node, no key and no
  // relationship behind (an active node nobody holds a key for).
  await deps.audit.append({
    chain: domain, actor, action: "node.enroll", resource: auditResource.node(nodeId), decision: "granted", reason: "ok", requestId,
    details: { name, kid: key.kid },
  });
  // The membership before the node: if SpiceDB cannot answer, no node row is left
  // behind (active, with a key nobody was given); a membership whose node was never
  // stored names an id nobody can authenticate as.
  await deps.authorizer.writeRelationships([relationship(nodeRef(nodeId), "domain", domainRef(domain))], []);
  await deps.nodes.insertNode({ id: nodeId, domain, name, status: "active" }, key.record);
  return { nodeId, kid: key.kid, nsk: key.nsk };
}

export type EnrollNodeDependencies = AuthorizeElevatedDependencies & RegisterNodeDependencies & { readonly events: Pick<NodeEvents, "eventKeyThumbprint"> };

/**
 * POST /v1/domains/{domain}/nodes: a domain admin, stepped up for node.enroll. The answer
 * names the domain's active event key by its thumbprint, for the agent to pin; the key is
 * fetched (created on a domain's first enrollment) before anything is recorded, so a backend
 * that cannot wrap it refuses with nothing changed.
 */
export async function enrollNode(
  deps: EnrollNodeDependencies,
  input: { readonly credential: UserCredential; readonly domain: string; readonly name: string; readonly requestId: string },
): Promise<EnrolledNode & { readonly eventKeyThumbprint: string }> {
  const { credential, domain, requestId } = input;
  const nodeId = randomUUID();
  await authorizeElevated(deps, { credential, domain, action: "node.enroll", resource: auditResource.node(nodeId), requestId });
  const eventKeyThumbprint = await deps.events.eventKeyThumbprint(domain);
  return { ...(await registerNode(deps, { ...input, nodeId, actor: actorOf(credential) })), eventKeyThumbprint };
}
