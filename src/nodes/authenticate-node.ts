import { auditActor, auditResource, type Actor, type AuditAction } from "../audit/audit-vocabulary.ts";
import type { DenialRecorder } from "../audit/denial-recorder.ts";
import { constantTimeEqual } from "../platform/credentials.ts";
import { CustosError } from "../platform/errors.ts";
import { PLATFORM_CHAIN } from "../platform/names.ts";
import type { NodeKeyRecord, NodeRepository } from "./node-repo.ts";
import { bearerSecretDigest, parseNodeBearer } from "./nsk.ts";

export interface AuthenticateNodeDependencies {
  /** Where the bearer's kid is looked up (the read path looks up the secret's row with it). */
  readonly nodes: Pick<NodeRepository, "findKey">;
  readonly denials: DenialRecorder;
  /** Epoch seconds. */
  readonly now: () => number;
}

/** Why a node's credential was refused, as its audit record says. */
export type NodeAuthenticationReason =
  | "credential_missing"
  | "malformed_bearer"
  | "unknown_kid"
  | "bearer_mismatch"
  | "kid_retired"
  | "node_mismatch"
  | "node_quarantined"
  | "node_decommissioned";

/** What a node call presents, as plain values (the HTTP adapter is src/http/authenticate-steps.ts). */
export interface NodeCallCredentials {
  /** The token of the Authorization header, or undefined when there is no bearer. */
  readonly bearer: string | undefined;
  /** The client address (Express's `req.ip`, which honours the `trust proxy` setting). */
  readonly address: string;
  readonly requestId: string;
  /** The node id of the path: the bearer must be this node's. */
  readonly pathNodeId: string;
  /** What the call would do, for the audit record of a refusal. */
  readonly action: AuditAction;
}

export interface AuthenticatedNode {
  readonly key: NodeKeyRecord;
}

function invalidToken(): CustosError {
  return new CustosError("invalid_token");
}

/**
 * Step 1 of every node call (DESIGN.md, "Reading a secret"): the bearer is well formed, its
 * kid is known and current, its secret's digest matches (constant time), it belongs to the
 * node in the path, and the node is active. Only the database is consulted — never the
 * secret backend — so authentication costs one indexed read. Every refusal is audited
 * through the denial recorder, which folds floods into counted summaries.
 */
export async function authenticateNode(deps: AuthenticateNodeDependencies, call: NodeCallCredentials): Promise<AuthenticatedNode> {
  const { pathNodeId, action, requestId, address: source } = call;
  const refuse = async (reason: NodeAuthenticationReason, chain: string, actor: Actor, error: CustosError): Promise<never> => {
    const resource = auditResource.node(pathNodeId);
    // Without a verified bearer the actor, and the node id in the path, are the client's word:
    // summarised per source, so random node ids cannot each open their own record.
    if (actor === auditActor.anonymous) await deps.denials.recordUnverified({ chain, action, resource, reason, requestId, source });
    else await deps.denials.record({ chain, actor, action, resource, decision: "denied", reason, requestId, details: { source } });
    throw error;
  };

  const token = call.bearer;
  if (token === undefined) return refuse("credential_missing", PLATFORM_CHAIN, auditActor.anonymous, invalidToken());
  const bearer = parseNodeBearer(token);
  if (bearer === undefined) return refuse("malformed_bearer", PLATFORM_CHAIN, auditActor.anonymous, invalidToken());
  const key = await deps.nodes.findKey(bearer.kid);
  if (key === undefined) return refuse("unknown_kid", PLATFORM_CHAIN, auditActor.anonymous, invalidToken());
  const actor = auditActor.node(key.nodeId);
  if (!constantTimeEqual(key.bearerSecretSha256, bearerSecretDigest(bearer.secret))) {
    return refuse("bearer_mismatch", key.node.domain, auditActor.anonymous, invalidToken());
  }
  if (key.retiresAt !== undefined && key.retiresAt <= deps.now()) {
    return refuse("kid_retired", key.node.domain, actor, invalidToken());
  }
  if (key.nodeId !== pathNodeId) {
    return refuse("node_mismatch", key.node.domain, actor, new CustosError("node_mismatch", { detail: "this bearer belongs to another node" }));
  }
  // Decommissioning retires every key at once, so this only answers a key row changed by hand.
  if (key.node.status === "decommissioned") {
    return refuse("node_decommissioned", key.node.domain, actor, invalidToken());
  }
  if (key.node.status !== "active") {
    return refuse("node_quarantined", key.node.domain, actor, new CustosError("node_quarantined", { detail: "this node is quarantined" }));
  }
  return { key };
}
