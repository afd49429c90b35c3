import { randomUUID } from "node:crypto";
import type { RequestHandler } from "express";
import { actorOf, enforceStepUp, type StepUpGateDependencies } from "../../access/elevated-action.ts";
import type { AuditAppender } from "../../audit/audit-port.ts";
import type { Authorizer } from "../../authz/authorizer.ts";
import { relationship } from "../../authz/authorizer.ts";
import { domainRef, nodeRef } from "../../authz/object-ids.ts";
import { requestIdOf } from "../../http/request-id.ts";
import { jsonRequestBody, PROBLEM_RESPONSE } from "../../http/openapi.ts";
import { jsonObjectBody } from "../../http/request-body.ts";
import type { RouteDefinition } from "../../http/routes.ts";
import { CustosError } from "../../platform/errors.ts";
import { parseDomainId, parseNodeId } from "../../platform/names.ts";
import type { KeyWrapper } from "../../secrets/key-wrapper.ts";
import { userCredentialOf } from "../credential-locals.ts";
import { requireDomainAdmin } from "../domain-access.ts";
import { authenticateNode, type AuthenticateNodeDependencies } from "./authenticate-node.ts";
import { issueNodeKey } from "./node-keys.ts";

export interface NodeRoutesDependencies extends StepUpGateDependencies, AuthenticateNodeDependencies {
  readonly audit: AuditAppender;
  readonly authorizer: Authorizer;
  readonly wrapper: KeyWrapper;
  readonly requireDomainUser: RequestHandler;
  /** How long a superseded NSK keeps working after a rotation. */
  readonly nskGraceSeconds: number;
}


function parseNodeName(body: unknown): string {
  const { name } = jsonObjectBody(body, ["name"]);
  if (typeof name !== "string" || name.length < 1 || name.length > 128 || !/^\P{Cc}+$/u.test(name)) {
    throw new CustosError("invalid_request", { detail: "name must be 1-128 printable characters" });
  }
  return name;
}

export function nodeRoutes(deps: NodeRoutesDependencies): RouteDefinition[] {
  const quarantine = (status: "quarantined" | "active"): RequestHandler[] => [
    deps.requireDomainUser,
    async (req, res) => {
      const domain = parseDomainId(req.params.domain);
      const nodeId = parseNodeId(req.params.node_id);
      const credential = userCredentialOf(res);
      const requestId = requestIdOf(res);
      const resource = `node:${nodeId}`;
      await requireDomainAdmin(deps, { credential, domain, action: "node.quarantine", resource, requestId });
      await enforceStepUp(deps, { credential, domain, action: "node.quarantine", resource, requestId });
      const node = await deps.nodes.findNode(nodeId);
      // Another domain's node is answered exactly like a missing one.
      if (node?.domain !== domain) throw new CustosError("not_found", { detail: "no such node in this domain" });
      await deps.audit.append({
        chain: domain, actor: actorOf(credential), action: "node.quarantine", resource, decision: "granted",
        reason: status === "quarantined" ? "quarantined" : "lifted", requestId,
      });
      await deps.nodes.setStatus(nodeId, status);
      res.status(204).end();
    },
  ];

  return [
    {
      method: "post",
      path: "/v1/domains/:domain/nodes",
      doc: {
        summary: "Enroll a node and return its first NSK, once (admin, elevated: node.enroll)",
        requestBody: jsonRequestBody({ name: { type: "string", minLength: 1, maxLength: 128 } }, ["name"]),
        responses: { "201": { description: "{ node_id, kid, nsk } — shown once, Cache-Control: no-store" }, "400": PROBLEM_RESPONSE, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "503": PROBLEM_RESPONSE },
      },
      handlers: [
        deps.requireDomainUser,
        async (req, res) => {
          const domain = parseDomainId(req.params.domain);
          const credential = userCredentialOf(res);
          const name = parseNodeName(req.body);
          const requestId = requestIdOf(res);
          const nodeId = randomUUID();
          const resource = `node:${nodeId}`;
          await requireDomainAdmin(deps, { credential, domain, action: "node.enroll", resource, requestId });
          await enforceStepUp(deps, { credential, domain, action: "node.enroll", resource, requestId });
          const key = await issueNodeKey(deps.wrapper, nodeId);
          await deps.nodes.insertNode({ id: nodeId, domain, name, status: "active" }, key.record);
          await deps.authorizer.writeRelationships([relationship(nodeRef(nodeId), "domain", domainRef(domain))], []);
          // Audited last, right before the NSK is released: no record, no key.
          await deps.audit.append({
            chain: domain, actor: actorOf(credential), action: "node.enroll", resource, decision: "granted", reason: "ok", requestId,
            details: { name, kid: key.kid },
          });
          res.status(201).json({ node_id: nodeId, kid: key.kid, nsk: key.nsk });
        },
      ],
    },
    {
      method: "post",
      path: "/v1/domains/:domain/nodes/:node_id/quarantine",
      doc: { summary: "Quarantine a node: every check fails until lifted (admin, elevated: node.quarantine)", responses: { "204": { description: "quarantined" }, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "404": PROBLEM_RESPONSE } },
      handlers: quarantine("quarantined"),
    },
    {
      method: "delete",
      path: "/v1/domains/:domain/nodes/:node_id/quarantine",
      doc: { summary: "Lift a node's quarantine (admin, elevated: node.quarantine)", responses: { "204": { description: "active again" }, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "404": PROBLEM_RESPONSE } },
      handlers: quarantine("active"),
    },
    {
      method: "post",
      path: "/v1/nodes/:node_id/nsk/rotate",
      doc: {
        summary: "The node replaces its own NSK; the old kid keeps working for the grace period",
        security: [{ nodeBearer: [] }],
        responses: { "201": { description: "{ kid, nsk } — shown once" }, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "503": PROBLEM_RESPONSE },
      },
      handlers: [
        async (req, res) => {
          const nodeId = parseNodeId(req.params.node_id);
          const { key: current } = await authenticateNode(deps, req, res, nodeId, "node.rotate");
          const next = await issueNodeKey(deps.wrapper, nodeId);
          const graceEndsAt = deps.now() + deps.nskGraceSeconds;
          await deps.nodes.rotateKey(next.record, graceEndsAt);
          await deps.audit.append({
            chain: current.node.domain, actor: `node:${nodeId}`, action: "node.rotate", resource: `node:${nodeId}`, decision: "granted",
            reason: "ok", requestId: requestIdOf(res), details: { previous_kid: current.kid, kid: next.kid, previous_retires_at: graceEndsAt },
          });
          res.status(201).json({ kid: next.kid, nsk: next.nsk });
        },
      ],
    },
  ];
}
