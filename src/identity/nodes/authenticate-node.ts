import { timingSafeEqual } from "node:crypto";
import type { Request, Response } from "express";
import { auditActor, auditResource, type Actor, type AuditAction } from "../../audit/audit-vocabulary.ts";
import { sourceAddressOf, type DenialRecorder } from "../../audit/denial-summariser.ts";
import { requestIdOf } from "../../http/request-id.ts";
import { CustosError } from "../../platform/errors.ts";
import { PLATFORM_CHAIN } from "../../platform/names.ts";
import { bearerOf } from "../../http/authenticate-steps.ts";
import type { NodeKeyRecord, NodeRepository } from "./node-repo.ts";
import { bearerSecretDigest, parseNodeBearer } from "./nsk.ts";

export interface AuthenticateNodeDependencies {
  readonly nodes: NodeRepository;
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
  | "node_quarantined";

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
export async function authenticateNode(
  deps: AuthenticateNodeDependencies,
  req: Request,
  res: Response,
  pathNodeId: string,
  action: AuditAction,
): Promise<AuthenticatedNode> {
  const refuse = async (reason: NodeAuthenticationReason, chain: string, actor: Actor, error: CustosError): Promise<never> => {
    const resource = auditResource.node(pathNodeId);
    const source = sourceAddressOf(req);
    // Without a verified bearer the actor, and the node id in the path, are the client's word:
    // summarised per source, so random node ids cannot each open their own record.
    if (actor === auditActor.anonymous) await deps.denials.recordUnverified({ chain, action, resource, reason, requestId: requestIdOf(res), source });
    else await deps.denials.record({ chain, actor, action, resource, decision: "denied", reason, requestId: requestIdOf(res), details: { source } });
    throw error;
  };

  const token = bearerOf(req);
  if (token === undefined) return refuse("credential_missing", PLATFORM_CHAIN, auditActor.anonymous, invalidToken());
  const bearer = parseNodeBearer(token);
  if (bearer === undefined) return refuse("malformed_bearer", PLATFORM_CHAIN, auditActor.anonymous, invalidToken());
  const key = await deps.nodes.findKey(bearer.kid);
  if (key === undefined) return refuse("unknown_kid", PLATFORM_CHAIN, auditActor.anonymous, invalidToken());
  const actor = auditActor.node(key.nodeId);
  const presented = Buffer.from(bearerSecretDigest(bearer.secret), "hex");
  const expected = Buffer.from(key.bearerSecretSha256, "hex");
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
    return refuse("bearer_mismatch", key.node.domain, auditActor.anonymous, invalidToken());
  }
  if (key.retiresAt !== undefined && key.retiresAt <= deps.now()) {
    return refuse("kid_retired", key.node.domain, actor, invalidToken());
  }
  if (key.nodeId !== pathNodeId) {
    return refuse("node_mismatch", key.node.domain, actor, new CustosError("node_mismatch", { detail: "this bearer belongs to another node" }));
  }
  if (key.node.status !== "active") {
    return refuse("node_quarantined", key.node.domain, actor, new CustosError("node_quarantined", { detail: "this node is quarantined" }));
  }
  return { key };
}
