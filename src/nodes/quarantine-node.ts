import { actorOf, authorizeElevated, type AuthorizeElevatedDependencies } from "../access/elevated-action.ts";
import type { AuditAppender } from "../audit/audit-port.ts";
import { auditResource } from "../audit/audit-vocabulary.ts";
import type { UserCredential } from "../identity/credentials.ts";
import { CustosError } from "../platform/errors.ts";
import type { NodeEvents } from "./node-events.ts";
import type { NodeRecord, NodeRepository } from "./node-repo.ts";

/** Why a quarantine change was granted, as its audit record says. */
export type QuarantineChange = "quarantined" | "lifted";

export interface QuarantineNodeDependencies extends AuthorizeElevatedDependencies {
  readonly audit: AuditAppender;
  readonly nodes: Pick<NodeRepository, "findNode" | "setStatus">;
  readonly events: Pick<NodeEvents, "nodeQuarantined" | "nodeReleased">;
}

export interface QuarantineNodeInput {
  readonly credential: UserCredential;
  readonly domain: string;
  readonly nodeId: string;
  readonly requestId: string;
}

/** 409 node_decommissioned: a decommissioned node is never quarantined or lifted again. */
export function nodeDecommissioned(): CustosError {
  return new CustosError("node_decommissioned", { detail: "this node has been decommissioned; enroll a new node instead" });
}

/**
 * The domain's node an admin verb may still change: another domain's node is answered exactly
 * like a missing one (404), a decommissioned one is 409.
 */
export async function changeableNodeOf(nodes: Pick<NodeRepository, "findNode">, domain: string, nodeId: string): Promise<NodeRecord> {
  const node = await nodes.findNode(nodeId);
  if (node?.domain !== domain) throw new CustosError("not_found", { detail: "no such node in this domain" });
  if (node.status === "decommissioned") throw nodeDecommissioned();
  return node;
}

async function setQuarantine(deps: QuarantineNodeDependencies, input: QuarantineNodeInput, change: QuarantineChange): Promise<void> {
  const { credential, domain, nodeId, requestId } = input;
  const resource = auditResource.node(nodeId);
  await authorizeElevated(deps, { credential, domain, action: "node.quarantine", resource, requestId });
  await changeableNodeOf(deps.nodes, domain, nodeId);
  await deps.audit.append({ chain: domain, actor: actorOf(credential), action: "node.quarantine", resource, decision: "granted", reason: change, requestId });
  // A decommission that ran in between wins: the repository never changes a decommissioned node.
  if (!(await deps.nodes.setStatus(nodeId, change === "quarantined" ? "quarantined" : "active"))) throw nodeDecommissioned();
  // Told after the change: a quarantined node's open streams deliver this and end.
  const announcement = { domain, nodeId, requestId };
  await (change === "quarantined" ? deps.events.nodeQuarantined(announcement) : deps.events.nodeReleased(announcement));
}

/** POST /v1/domains/{domain}/nodes/{node_id}/quarantine: every check of the node fails until lifted. */
export function quarantineNode(deps: QuarantineNodeDependencies, input: QuarantineNodeInput): Promise<void> {
  return setQuarantine(deps, input, "quarantined");
}

/** DELETE /v1/domains/{domain}/nodes/{node_id}/quarantine: the node is active again. */
export function liftQuarantine(deps: QuarantineNodeDependencies, input: QuarantineNodeInput): Promise<void> {
  return setQuarantine(deps, input, "lifted");
}
