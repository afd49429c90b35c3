import type { Request, RequestHandler, Response } from "express";
import type { AuthorizeElevatedDependencies } from "../access/elevated-action.ts";
import type { Authorizer } from "../authz/authorizer.ts";
import { authenticatedNodeOf, authenticateNodeStep } from "../http/authenticate-steps.ts";
import { limit } from "../http/limit-step.ts";
import { jsonRequestBody, PROBLEM_RESPONSE } from "../http/openapi.ts";
import { jsonObjectBody } from "../http/request-body.ts";
import { requestIdOf } from "../http/request-id.ts";
import type { RouteDefinition } from "../http/routes.ts";
import { json, respond, step } from "../http/steps.ts";
import { PAGE_PARAMETERS, pageBody, parsePageRequest } from "../http/paging.ts";
import { userCredentialOf } from "../http/credential-locals.ts";
import { CustosError } from "../platform/errors.ts";
import { parseDomainId, parseNodeId } from "../platform/names.ts";
import type { NodeRepository } from "./node-repo.ts";
import type { RateLimitPolicy } from "../platform/rate-limit/rate-limit-policy.ts";
import type { RateLimitStoreFactory } from "../platform/rate-limit/rate-limit-stores.ts";
import type { AuthenticateNodeDependencies } from "./authenticate-node.ts";
import { decommissionNode } from "./decommission-node.ts";
import { enrollNode } from "./enroll-node.ts";
import { parseRotationRequest } from "./nsk-rotation.ts";
import { liftQuarantine, quarantineNode, type QuarantineNodeDependencies, type QuarantineNodeInput } from "./quarantine-node.ts";
import type { NodeEvents } from "./node-events.ts";
import { listNodes, nodeBody, showNode, type ReadNodesDependencies } from "./read-nodes.ts";
import { requestNodeRotation } from "./request-node-rotation.ts";
import { proveRotation, refuseRotation, rotateNodeKey, type RotationDependencies } from "./rotate-node-key.ts";

export interface NodeRoutesDependencies
  extends AuthorizeElevatedDependencies, AuthenticateNodeDependencies, Omit<RotationDependencies, "nodes">, Omit<QuarantineNodeDependencies, "nodes"> {
  readonly nodes: NodeRepository;
  readonly authorizer: Authorizer;
  readonly requireDomainUser: RequestHandler;
  /** The domain's admins and auditors (domain.read): who may read its nodes. */
  readonly requireDomainReader: RequestHandler;
  readonly lastSecretReads: ReadNodesDependencies["lastSecretReads"];
  readonly rateLimits: RateLimitPolicy;
  readonly rateLimitStore: RateLimitStoreFactory;
  readonly events: NodeEvents;
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

/** The JSON schema of one node in the read APIs. */
const NODE_SCHEMA = {
  type: "object",
  properties: {
    node_id: { type: "string", format: "uuid" },
    name: { type: "string" },
    state: { type: "string", enum: ["active", "quarantined", "decommissioned"] },
    current_kid: { type: ["string", "null"] },
    keys: {
      type: "array",
      description: "the node's newest keys (at most 5), newest first: kids and ages, never key material",
      items: { type: "object", properties: { kid: { type: "string" }, created_at: { type: "string", format: "date-time" }, retires_at: { type: ["string", "null"], format: "date-time" } } },
    },
    enrolled_at: { type: "string", format: "date-time" },
    last_read_at: { type: ["string", "null"], format: "date-time", description: "its newest granted secret read, from the audit log" },
    decommissioned_at: { type: ["string", "null"], format: "date-time" },
  },
} as const;

const READ_REFUSALS = { "400": PROBLEM_RESPONSE, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "503": PROBLEM_RESPONSE } as const;

export function nodeRoutes(deps: NodeRoutesDependencies): RouteDefinition[] {
  return [
    {
      method: "get",
      path: "/v1/domains/:domain/nodes",
      doc: {
        summary: "The domain's nodes, a page at a time in node-id order (admins and auditors)",
        parameters: PAGE_PARAMETERS,
        responses: {
          "200": { description: "{ items, next_cursor? }", content: { "application/json": { schema: { type: "object", properties: { items: { type: "array", items: NODE_SCHEMA }, next_cursor: { type: "string" } } } } } },
          ...READ_REFUSALS,
        },
      },
      handlers: [
        deps.requireDomainReader,
        respond(
          (input: Parameters<typeof listNodes>[1]) => listNodes(deps, input),
          (req) => ({ domain: parseDomainId(req.params.domain), page: parsePageRequest(req.query) }),
          json(200, (page: Awaited<ReturnType<typeof listNodes>>) => pageBody(page, nodeBody)),
          "listNodes",
        ),
      ],
    },
    {
      method: "get",
      path: "/v1/domains/:domain/nodes/:node_id",
      doc: {
        summary: "One node of the domain (admins and auditors); another domain's node is 404",
        responses: { "200": { description: "the node", content: { "application/json": { schema: NODE_SCHEMA } } }, ...READ_REFUSALS, "404": PROBLEM_RESPONSE },
      },
      handlers: [
        deps.requireDomainReader,
        respond(
          (input: Parameters<typeof showNode>[1]) => showNode(deps, input),
          (req) => ({ domain: parseDomainId(req.params.domain), nodeId: parseNodeId(req.params.node_id) }),
          json(200, nodeBody),
          "showNode",
        ),
      ],
    },
    {
      method: "delete",
      path: "/v1/domains/:domain/nodes/:node_id",
      doc: {
        summary: "Decommission a node: its keys retire now, its domain and reader relationships go, and it can never be changed again (admin, elevated: node.decommission). Repeating it answers 204 again.",
        responses: { "204": { description: "decommissioned" }, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "404": PROBLEM_RESPONSE, "503": PROBLEM_RESPONSE },
      },
      handlers: [deps.requireDomainUser, respond((input: QuarantineNodeInput) => decommissionNode(deps, input), quarantineInput, () => ({ status: 204 }), "decommissionNode")],
    },
    {
      method: "post",
      path: "/v1/domains/:domain/nodes",
      doc: {
        summary: "Enroll a node and return its first NSK, once (admin, elevated: node.enroll)",
        requestBody: jsonRequestBody({ name: { type: "string", minLength: 1, maxLength: 128 } }, ["name"]),
        responses: {
          "201": {
            description:
              "{ node_id, kid, nsk, event_key_thumbprint } — shown once, Cache-Control: no-store. event_key_thumbprint is the RFC 7638 SHA-256 " +
              "thumbprint (base64url) of the domain's active event key: what an agent pins before trusting the JWKS's event keys",
          },
          "400": PROBLEM_RESPONSE, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "503": PROBLEM_RESPONSE,
        },
      },
      handlers: [
        deps.requireDomainUser,
        respond(
          (input: Parameters<typeof enrollNode>[1]) => enrollNode(deps, input),
          (req, res) => ({ domain: parseDomainId(req.params.domain), credential: userCredentialOf(res), name: parseNodeName(req.body), requestId: requestIdOf(res) }),
          ({ nodeId, kid, nsk, eventKeyThumbprint }) => ({ status: 201, body: { node_id: nodeId, kid, nsk, event_key_thumbprint: eventKeyThumbprint } }),
          "enrollNode",
        ),
      ],
    },
    {
      method: "post",
      path: "/v1/domains/:domain/nodes/:node_id/quarantine",
      doc: { summary: "Quarantine a node: every check fails until lifted (admin, elevated: node.quarantine)", responses: { "204": { description: "quarantined" }, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "404": PROBLEM_RESPONSE, "409": PROBLEM_RESPONSE } },
      handlers: [deps.requireDomainUser, respond((input: QuarantineNodeInput) => quarantineNode(deps, input), quarantineInput, () => ({ status: 204 }), "quarantineNode")],
    },
    {
      method: "delete",
      path: "/v1/domains/:domain/nodes/:node_id/quarantine",
      doc: { summary: "Lift a node's quarantine (admin, elevated: node.quarantine)", responses: { "204": { description: "active again" }, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "404": PROBLEM_RESPONSE, "409": PROBLEM_RESPONSE } },
      handlers: [deps.requireDomainUser, respond((input: QuarantineNodeInput) => liftQuarantine(deps, input), quarantineInput, () => ({ status: 204 }), "liftQuarantine")],
    },
    {
      method: "post",
      path: "/v1/domains/:domain/nodes/:node_id/rotate-request",
      doc: {
        summary: "Ask a node to rotate its NSK: sends it the signed event nsk.rotate_requested; the node rotates with its own proof (admin, elevated: node.rotate_request)",
        responses: { "202": { description: "requested: the event is on its way" }, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "404": PROBLEM_RESPONSE, "409": PROBLEM_RESPONSE, "503": PROBLEM_RESPONSE },
      },
      handlers: [deps.requireDomainUser, respond((input: QuarantineNodeInput) => requestNodeRotation(deps, input), quarantineInput, () => ({ status: 202 }), "requestNodeRotation")],
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
