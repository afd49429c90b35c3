import { randomUUID } from "node:crypto";
import type { RequestHandler, Response } from "express";
import { rateLimit } from "express-rate-limit";
import { actorOf, authorizeElevated, type AuthorizeElevatedDependencies } from "../../access/elevated-action.ts";
import type { AuditAppender } from "../../audit/audit-port.ts";
import { auditActor, auditResource } from "../../audit/audit-vocabulary.ts";
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
import type { RateLimitPolicy } from "../../secrets/rate-limit-policy.ts";
import type { RateLimitStoreFactory } from "../../secrets/rate-limit-stores.ts";
import { createWrapKeyCache } from "../../secrets/wrap-key-cache.ts";
import { userCredentialOf } from "../credential-locals.ts";
import { authenticateNode, type AuthenticateNodeDependencies } from "./authenticate-node.ts";
import { issueNodeKey } from "./node-keys.ts";
import type { NodeKeyRecord } from "./node-repo.ts";
import { checkRotationProof, parseRotationRequest, ROTATION_NONCE_TTL_SECONDS, ROTATION_SKEW_SECONDS, sealNewNsk } from "./nsk-rotation.ts";

export interface NodeRoutesDependencies extends AuthorizeElevatedDependencies, AuthenticateNodeDependencies {
  readonly audit: AuditAppender;
  readonly authorizer: Authorizer;
  readonly wrapper: KeyWrapper;
  readonly requireDomainUser: RequestHandler;
  /** How long a superseded NSK keeps working after a rotation. */
  readonly nskGraceSeconds: number;
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

/**
 * A 401 must carry a challenge (RFC 9110). The bearer was fine; what is missing is the proof
 * of the NSK, so the challenge names that scheme, the way DPoP (RFC 9449) names its proofs.
 */
function rotationProofInvalid(detail: string): CustosError {
  return new CustosError("rotation_proof_invalid", { detail });
}

function kidSuperseded(): CustosError {
  return new CustosError("kid_superseded", { detail: "this key was superseded by a rotation: only the node's current key may rotate" });
}

/** The key step 1 of a rotation authenticated and proved, for the steps after it. */
function rotatingKeyOf(res: Response): NodeKeyRecord {
  const key: unknown = res.locals.rotatingKey;
  if (key === undefined) throw new CustosError("invalid_token");
  return key as NodeKeyRecord;
}

export function nodeRoutes(deps: NodeRoutesDependencies): RouteDefinition[] {
  const wrapKeys = createWrapKeyCache(deps.wrapper);
  const quarantine = (status: "quarantined" | "active"): RequestHandler[] => [
    deps.requireDomainUser,
    async (req, res) => {
      const domain = parseDomainId(req.params.domain);
      const nodeId = parseNodeId(req.params.node_id);
      const credential = userCredentialOf(res);
      const requestId = requestIdOf(res);
      const resource = auditResource.node(nodeId);
      await authorizeElevated(deps, { credential, domain, action: "node.quarantine", resource, requestId });
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
          const resource = auditResource.node(nodeId);
          await authorizeElevated(deps, { credential, domain, action: "node.enroll", resource, requestId });
          // Wrapping the new wrap_key changes nothing anywhere; it comes first so that a
          // backend that cannot answer refuses before anything is recorded as granted.
          const key = await issueNodeKey(deps.wrapper, nodeId);
          // Audited before any write: a record that cannot commit leaves no node, no key and no
          // relationship behind (an active node nobody holds a key for).
          await deps.audit.append({
            chain: domain, actor: actorOf(credential), action: "node.enroll", resource, decision: "granted", reason: "ok", requestId,
            details: { name, kid: key.kid },
          });
          // The membership before the node: if SpiceDB cannot answer, no node row is left
          // behind (active, with a key nobody was given); a membership whose node was never
          // stored names an id nobody can authenticate as.
          await deps.authorizer.writeRelationships([relationship(nodeRef(nodeId), "domain", domainRef(domain))], []);
          await deps.nodes.insertNode({ id: nodeId, domain, name, status: "active" }, key.record);
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
        // 1. the bearer, then proof of the NSK itself: the key is current, the request is
        //    fresh, its MAC is right and its nonce is new
        async (req, res, next) => {
          const nodeId = parseNodeId(req.params.node_id);
          const { key } = await authenticateNode(deps, req, res, nodeId, "node.rotate");
          const request = parseRotationRequest(req.body);
          const refuse = async (reason: string, error: CustosError): Promise<never> => {
            await deps.denials.record({
              chain: key.node.domain, actor: auditActor.node(nodeId), action: "node.rotate", resource: auditResource.node(nodeId), decision: "denied", reason,
              requestId: requestIdOf(res), details: { kid: key.kid },
            });
            throw error;
          };
          if (request === undefined) return refuse("proof_missing", rotationProofInvalid("a rotation must prove the NSK: { timestamp, nonce, proof }"));
          if (key.retiresAt !== undefined) return refuse("kid_superseded", kidSuperseded());
          const failure = checkRotationProof(request, { wrapKey: await wrapKeys.get(key), nodeId, kid: key.kid, now: deps.now() });
          if (failure === "proof_stale") return refuse(failure, rotationProofInvalid(`timestamp must be within ${String(ROTATION_SKEW_SECONDS)} s of the server's clock`));
          if (failure === "proof_mismatch") return refuse(failure, rotationProofInvalid("the proof does not match this node's current key"));
          if (!(await deps.nodes.consumeRotationNonce(nodeId, request.nonce, deps.now() + ROTATION_NONCE_TTL_SECONDS))) {
            return refuse("nonce_replayed", rotationProofInvalid("this nonce was already used"));
          }
          res.locals.rotatingKey = key;
          next();
        },
        // 2. the node's rotation budget, spent only by requests that proved the NSK
        rateLimit({
          windowMs: deps.rateLimits.node_rotations.per_node.window_seconds * 1000,
          limit: deps.rateLimits.node_rotations.per_node.limit,
          standardHeaders: "draft-8",
          legacyHeaders: false,
          identifier: "nsk-rotations-per-node",
          store: deps.rateLimitStore("nsk-rotations:node:"),
          keyGenerator: (_req, res) => rotatingKeyOf(res).nodeId,
          // Fail closed: a counter store that cannot answer refuses the rotation.
          passOnStoreError: false,
          handler: (_req, res, next) => {
            const key = rotatingKeyOf(res);
            deps.denials
              .record({
                chain: key.node.domain, actor: auditActor.node(key.nodeId), action: "node.rotate", resource: auditResource.node(key.nodeId),
                decision: "denied", reason: "rate_limited_node", requestId: requestIdOf(res), details: { kid: key.kid },
              })
              .then(
                () => { next(new CustosError("rate_limited", { detail: "too many NSK rotations for this node" })); },
                (error: unknown) => { next(error); },
              );
          },
        }),
        // 3. audited, then superseded — only if the key is still current when the change commits
        async (_req, res) => {
          const current = rotatingKeyOf(res);
          const nodeId = current.nodeId;
          const requestId = requestIdOf(res);
          const next = await issueNodeKey(deps.wrapper, nodeId);
          const jwe = await sealNewNsk(Buffer.from(next.nsk, "base64url"), await wrapKeys.get(current), current.kid, next.kid);
          const graceEndsAt = deps.now() + deps.nskGraceSeconds;
          // The record commits before the keys change: if it cannot, the node keeps its key.
          await deps.audit.append({
            chain: current.node.domain, actor: auditActor.node(nodeId), action: "node.rotate", resource: auditResource.node(nodeId), decision: "granted",
            reason: "ok", requestId, details: { previous_kid: current.kid, kid: next.kid, previous_retires_at: graceEndsAt },
          });
          if (!(await deps.nodes.rotateKey(current.kid, next.record, graceEndsAt))) {
            // Another rotation by the same key committed first: the record above is followed by
            // this one, and the winner's key stays current.
            await deps.denials.record({
              chain: current.node.domain, actor: auditActor.node(nodeId), action: "node.rotate", resource: auditResource.node(nodeId), decision: "denied",
              reason: "kid_superseded", requestId, details: { kid: current.kid },
            });
            throw kidSuperseded();
          }
          res.status(201).json({ kid: next.kid, previous_kid: current.kid, previous_retires_at: new Date(graceEndsAt * 1000).toISOString(), jwe });
        },
      ],
    },
  ];
}
