import type { Request, RequestHandler, Response } from "express";
import type { AuthorizeElevatedDependencies } from "../access/elevated-action.ts";
import type { Authorizer } from "../authz/authorizer.ts";
import { authenticatedNodeOf, authenticateNodeStep } from "../http/authenticate-steps.ts";
import { limit } from "../http/limit-step.ts";
import { jsonRequestBody, PROBLEM_RESPONSE } from "../http/openapi.ts";
import { jsonObjectBody } from "../http/request-body.ts";
import { requestIdOf } from "../http/request-id.ts";
import type { RouteDefinition } from "../http/routes.ts";
import { respond, step } from "../http/steps.ts";
import { userCredentialOf } from "../http/credential-locals.ts";
import { CustosError } from "../platform/errors.ts";
import { parseDomainId, parseNodeId } from "../platform/names.ts";
import type { RateLimitPolicy } from "../platform/rate-limit/rate-limit-policy.ts";
import type { RateLimitStoreFactory } from "../platform/rate-limit/rate-limit-stores.ts";
import type { AuthenticateNodeDependencies } from "./authenticate-node.ts";
import { enrollNode } from "./enroll-node.ts";
import { parseRotationRequest } from "./nsk-rotation.ts";
import { liftQuarantine, quarantineNode, type QuarantineNodeDependencies, type QuarantineNodeInput } from "./quarantine-node.ts";
import { proveRotation, refuseRotation, rotateNodeKey, type RotationDependencies } from "./rotate-node-key.ts";

export interface NodeRoutesDependencies
  extends AuthorizeElevatedDependencies, AuthenticateNodeDependencies, Omit<RotationDependencies, "nodes">, Omit<QuarantineNodeDependencies, "nodes"> {
  readonly authorizer: Authorizer;
  readonly requireDomainUser: RequestHandler;
  readonly rateLimits: RateLimitPolicy;
  readonly rateLimitStore: RateLimitStoreFactory;
}

function parseNodeName(body: unknown): string {
  const { name } = jsonObjectBody(body, ["name"]);
  if (typeof name !== "string" || name.length < 1 || name.length > 128 || !/^\P{Cc}+$/u.test(name)) {
    throw new CustosError("invalid_request", { detail: "name must be 1-128 printable characters" });
  }
  return name;
}

function quarantineInput(req: Request, res: Response): QuarantineNodeInput {
  return { domain: parseDomainId(req.params.domain), nodeId: parseNodeId(req.params.node_id), credential: userCredentialOf(res), requestId: requestIdOf(res) };
}

export function nodeRoutes(deps: NodeRoutesDependencies): RouteDefinition[] {
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
        respond(
          (input: Parameters<typeof enrollNode>[1]) => enrollNode(deps, input),
          (req, res) => ({ domain: parseDomainId(req.params.domain), credential: userCredentialOf(res), name: parseNodeName(req.body), requestId: requestIdOf(res) }),
          ({ nodeId, kid, nsk }) => ({ status: 201, body: { node_id: nodeId, kid, nsk } }),
          "enrollNode",
        ),
      ],
    },
    {
      method: "post",
      path: "/v1/domains/:domain/nodes/:node_id/quarantine",
      doc: { summary: "Quarantine a node: every check fails until lifted (admin, elevated: node.quarantine)", responses: { "204": { description: "quarantined" }, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "404": PROBLEM_RESPONSE } },
      handlers: [deps.requireDomainUser, respond((input: QuarantineNodeInput) => quarantineNode(deps, input), quarantineInput, () => ({ status: 204 }), "quarantineNode")],
    },
    {
      method: "delete",
      path: "/v1/domains/:domain/nodes/:node_id/quarantine",
      doc: { summary: "Lift a node's quarantine (admin, elevated: node.quarantine)", responses: { "204": { description: "active again" }, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "404": PROBLEM_RESPONSE } },
      handlers: [deps.requireDomainUser, respond((input: QuarantineNodeInput) => liftQuarantine(deps, input), quarantineInput, () => ({ status: 204 }), "liftQuarantine")],
    },
    {
      method: "post",
      path: "/v1/nodes/:node_id/nsk/rotate",
      doc: {
        summary: "The node replaces its own current NSK, proving it holds it (docs/nsk-rotation.md); the old kid keeps working for the grace period",
        security: [{ nodeBearer: [] }],
        requestBody: jsonRequestBody(
          {
            timestamp: { type: "integer", description: "now, in epoch seconds (within 60 s of Custos's clock)" },
            nonce: { type: "string", pattern: "^[A-Za-z0-9_-]{22,64}$", description: "base64url, at least 16 random bytes, never reused" },
            proof: { type: "string", pattern: "^[A-Za-z0-9_-]{43}$", description: "base64url HMAC-SHA256 under the rotation proof key" },
          },
          ["timestamp", "nonce", "proof"],
        ),
        responses: {
          "201": { description: "{ kid, previous_kid, previous_retires_at, jwe }: the new NSK only as a JWE under the current wrap key; Cache-Control: no-store" },
          "400": PROBLEM_RESPONSE, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "429": PROBLEM_RESPONSE, "503": PROBLEM_RESPONSE,
        },
      },
      handlers: [
        // 1. the bearer, then proof of the NSK itself
        authenticateNodeStep(deps, "node.rotate"),
        step("proveRotation", async (req, res) => {
          const key = authenticatedNodeOf(res);
          await proveRotation(deps, { key, request: parseRotationRequest(req.body), requestId: requestIdOf(res) });
        }),
        // 2. the node's rotation budget, spent only by requests that proved the NSK
        limit({
          identifier: "nsk-rotations-per-node",
          budget: deps.rateLimits.node_rotations.per_node,
          store: deps.rateLimitStore,
          prefix: "nsk-rotations:node:",
          keyOf: (res) => authenticatedNodeOf(res).nodeId,
          refuse: (_req, res) =>
            refuseRotation(deps, authenticatedNodeOf(res), "rate_limited_node", requestIdOf(res), new CustosError("rate_limited", { detail: "too many NSK rotations for this node" })),
        }),
        // 3. audited, then superseded
        respond(
          (input: Parameters<typeof rotateNodeKey>[1]) => rotateNodeKey(deps, input),
          (_req, res) => ({ key: authenticatedNodeOf(res), requestId: requestIdOf(res) }),
          ({ kid, previousKid, previousRetiresAt, jwe }) => ({
            status: 201,
            body: { kid, previous_kid: previousKid, previous_retires_at: new Date(previousRetiresAt * 1000).toISOString(), jwe },
          }),
          "rotateNodeKey",
        ),
      ],
    },
  ];
}
