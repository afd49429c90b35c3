import { actorOf, authorizeElevated, type AuthorizeElevatedDependencies } from "../access/elevated-action.ts";
import type { AuditAppender } from "../audit/audit-port.ts";
import { auditResource } from "../audit/audit-vocabulary.ts";
import type { NodeEvents } from "./node-events.ts";
import type { NodeRepository } from "./node-repo.ts";
import { changeableNodeOf, type QuarantineNodeInput } from "./quarantine-node.ts";

export interface RequestNodeRotationDependencies extends AuthorizeElevatedDependencies {
  readonly audit: AuditAppender;
  readonly nodes: Pick<NodeRepository, "findNode">;
  readonly events: Pick<NodeEvents, "rotateRequested">;
}

/**
 * POST /v1/domains/{domain}/nodes/{node_id}/rotate-request: a domain admin, stepped up for
 * node.rotate_request, asks the node to rotate its NSK. Nothing changes in Custos: the request
 * is audited, then sent as `nsk.rotate_requested`; the node rotates with its own proof of
 * possession (docs/nsk-rotation.md), which an admin can never do for it.
 */
export async function requestNodeRotation(deps: RequestNodeRotationDependencies, input: QuarantineNodeInput): Promise<void> {
  const { credential, domain, nodeId, requestId } = input;
  const resource = auditResource.node(nodeId);
  await authorizeElevated(deps, { credential, domain, action: "node.rotate_request", resource, requestId });
  await changeableNodeOf(deps.nodes, domain, nodeId);
  await deps.audit.append({ chain: domain, actor: actorOf(credential), action: "node.rotate_request", resource, decision: "granted", reason: "ok", requestId });
  await deps.events.rotateRequested({ domain, nodeId, requestId });
}
