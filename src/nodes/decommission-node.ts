import { actorOf, authorizeElevated, type AuthorizeElevatedDependencies } from "../access/elevated-action.ts";
import { auditResource } from "../audit/audit-vocabulary.ts";
import { relationship } from "../authz/authorizer.ts";
import { domainRef, nodeRef } from "../authz/object-ids.ts";
import { CustosError } from "../platform/errors.ts";
import type { NodeEvents } from "./node-events.ts";
import type { NodeRepository } from "./node-repo.ts";
import type { QuarantineNodeInput } from "./quarantine-node.ts";

/** Why a decommission was granted, as its audit record says: the first one, or a repeat that converges a half-done one. */
export type DecommissionReason = "decommissioned" | "repeated";

export interface DecommissionNodeDependencies extends AuthorizeElevatedDependencies {
  readonly nodes: Pick<NodeRepository, "findNode" | "decommission">;
  readonly events: Pick<NodeEvents, "nodeDecommissioned">;
}

export type DecommissionNodeInput = QuarantineNodeInput;

/**
 * DELETE /v1/domains/{domain}/nodes/{node_id}: a domain admin, stepped up for node.decommission.
 *
 * Audited first (a refused append changes nothing). Then, cutting the node off before anything
 * else: every key that still authenticates retires now and the node is marked decommissioned,
 * in one transaction, so its bearer is refused from the next request. Last, its relationships
 * go from SpiceDB in one atomic write: `node:<id>#domain` and every `secret:…#reader@node:<id>`.
 * A node already decommissioned is done again (204 again, audited as `repeated`): the steps
 * are idempotent, so repeating one converges a decommission whose SpiceDB write failed.
 */
export async function decommissionNode(deps: DecommissionNodeDependencies, input: DecommissionNodeInput): Promise<void> {
  const { credential, domain, nodeId, requestId } = input;
  const resource = auditResource.node(nodeId);
  await authorizeElevated(deps, { credential, domain, action: "node.decommission", resource, requestId });
  const node = await deps.nodes.findNode(nodeId);
  // Another domain's node is answered exactly like a missing one.
  if (node?.domain !== domain) throw new CustosError("not_found", { detail: "no such node in this domain" });
  const reason: DecommissionReason = node.status === "decommissioned" ? "repeated" : "decommissioned";
  await deps.audit.append({
    chain: domain, actor: actorOf(credential), action: "node.decommission", resource, decision: "granted", reason, requestId,
    details: { name: node.name, previous_status: node.status },
  });
  await deps.nodes.decommission(nodeId, deps.now());
  const subject = nodeRef(nodeId);
  const readers = await deps.authorizer.readRelationships({ resourceType: "secret", relation: "reader", subject }, { kind: "fully_consistent" });
  await deps.authorizer.writeRelationships([], [relationship(subject, "domain", domainRef(domain)), ...readers]);
  await deps.events.nodeDecommissioned({ domain, nodeId, requestId });
}
