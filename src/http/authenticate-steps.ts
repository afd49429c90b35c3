import type { Request, RequestHandler, Response } from "express";
import type { AuditAction } from "../audit/audit-vocabulary.ts";
import { authenticateNode, type AuthenticateNodeDependencies } from "../nodes/authenticate-node.ts";
import type { NodeKeyRecord } from "../nodes/node-repo.ts";
import { CustosError } from "../platform/errors.ts";
import { parseNodeId } from "../platform/names.ts";
import { bearerTokenOf } from "./authorization.ts";
import { requestIdOf } from "./request-id.ts";
import { step } from "./steps.ts";

/**
 * The Express adapter of node authentication: the bearer through the one bearer parser, the
 * client address as `trust proxy` has it, the request id and the path's node id go in as
 * plain values; the authenticated key is kept for the steps after it.
 */
export function authenticateNodeStep(deps: AuthenticateNodeDependencies, action: AuditAction): RequestHandler {
  return step("authenticateNode", async (req: Request, res: Response) => {
    const pathNodeId = parseNodeId(req.params.node_id);
    const { key } = await authenticateNode(deps, {
      bearer: bearerTokenOf(req.get("authorization")),
      address: req.ip ?? "unknown",
      requestId: requestIdOf(res),
      pathNodeId,
      action,
    });
    res.locals.nodeKey = key;
  });
}

/** The key authenticateNodeStep verified, for the steps after it. */
export function authenticatedNodeOf(res: Response): NodeKeyRecord {
  const key: unknown = res.locals.nodeKey;
  if (key === undefined) throw new CustosError("invalid_token");
  return key as NodeKeyRecord;
}
