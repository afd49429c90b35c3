import type { RequestHandler, Response } from "express";
import { rateLimit } from "express-rate-limit";
import { actorOf, authorizeElevated, type AuthorizeElevatedDependencies } from "../access/elevated-action.ts";
import type { AuditAppender } from "../audit/audit-port.ts";
import { auditActor, auditResource } from "../audit/audit-vocabulary.ts";
import type { DenialRecorder } from "../audit/denial-summariser.ts";
import { relationship, type Authorizer } from "../authz/authorizer.ts";
import { domainRef, nodeRef, secretRef } from "../authz/object-ids.ts";
import { requestIdOf } from "../http/request-id.ts";
import { jsonRequestBody, PROBLEM_RESPONSE } from "../http/openapi.ts";
import { jsonObjectBody } from "../http/request-body.ts";
import type { RouteDefinition } from "../http/routes.ts";
import { userCredentialOf } from "../identity/credential-locals.ts";
import { authenticateNode } from "../identity/nodes/authenticate-node.ts";
import type { NodeKeyRecord, NodeRepository } from "../identity/nodes/node-repo.ts";
import type { Database } from "../platform/db/database.ts";
import { CustosError } from "../platform/errors.ts";
import { parseDomainId, parseNodeId, parseSecretName } from "../platform/names.ts";
import type { RateLimitPolicy } from "./rate-limit-policy.ts";
import type { RateLimitStoreFactory } from "./rate-limit-stores.ts";
import type { SecretBackend } from "./secret-backend.ts";
import { createWrapKeyCache } from "./wrap-key-cache.ts";
import { wrapForNode } from "./wrap-for-node.ts";

export interface SecretRoutesDependencies extends AuthorizeElevatedDependencies {
  readonly db: Database;
  readonly audit: AuditAppender;
  readonly denials: DenialRecorder;
  readonly authorizer: Authorizer;
  readonly backend: SecretBackend;
  readonly nodes: NodeRepository;
  readonly requireDomainUser: RequestHandler;
  readonly rateLimits: RateLimitPolicy;
  readonly rateLimitStore: RateLimitStoreFactory;
}

const MAX_SECRET_BYTES = 32 * 1024;

function parseSecretValue(body: unknown): Buffer {
  const { value } = jsonObjectBody(body, ["value"]);
  if (typeof value !== "string" || value.length === 0) throw new CustosError("invalid_request", { detail: "value must be a non-empty string" });
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length > MAX_SECRET_BYTES) throw new CustosError("invalid_request", { detail: `value must be at most ${String(MAX_SECRET_BYTES)} bytes` });
  return bytes;
}

function authenticatedNodeKey(res: Response): NodeKeyRecord {
  const key: unknown = res.locals.nodeKey;
  if (key === undefined) throw new CustosError("invalid_token");
  return key as NodeKeyRecord;
}

export function secretRoutes(deps: SecretRoutesDependencies): RouteDefinition[] {
  const wrapKeys = createWrapKeyCache(deps.backend);

  const limiter = (scope: "node" | "domain") => {
    const budget = scope === "node" ? deps.rateLimits.secret_reads.per_node : deps.rateLimits.secret_reads.per_domain;
    return rateLimit({
      windowMs: budget.window_seconds * 1000,
      limit: budget.limit,
      standardHeaders: "draft-8",
      legacyHeaders: false,
      identifier: `secret-reads-per-${scope}`,
      store: deps.rateLimitStore(`secret-reads:${scope}:`),
      keyGenerator: (_req, res) => {
        const key = authenticatedNodeKey(res);
        return scope === "node" ? key.nodeId : key.node.domain;
      },
      // Fail closed: a counter store that cannot answer refuses the read.
      passOnStoreError: false,
      handler: (req, res, next) => {
        const key = authenticatedNodeKey(res);
        // One summarised record per flood, not one per refused request.
        deps.denials
          .record({
            chain: key.node.domain, actor: auditActor.node(key.nodeId), action: "secret.read", resource: auditResource.secret(key.node.domain, String(req.params.name)),
            decision: "denied", reason: `rate_limited_${scope}`, requestId: requestIdOf(res),
          })
          .then(
            () => { next(new CustosError("rate_limited", { detail: `too many secret reads for this ${scope}` })); },
            (error: unknown) => { next(error); },
          );
      },
    });
  };

  return [
    {
      method: "put",
      path: "/v1/domains/:domain/secrets/:name",
      doc: {
        summary: "Write a secret's value to the backend (admin, elevated: secret.write)",
        requestBody: jsonRequestBody({ value: { type: "string", minLength: 1 } }, ["value"]),
        responses: { "201": { description: "created { name, version }" }, "200": { description: "new version { name, version }" }, "400": PROBLEM_RESPONSE, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "503": PROBLEM_RESPONSE },
      },
      handlers: [
        deps.requireDomainUser,
        async (req, res) => {
          const domain = parseDomainId(req.params.domain);
          const name = parseSecretName(req.params.name);
          const credential = userCredentialOf(res);
          const value = parseSecretValue(req.body);
          const requestId = requestIdOf(res);
          const resource = auditResource.secret(domain, name);
          await authorizeElevated(deps, { credential, domain, action: "secret.write", resource, requestId });
          await deps.audit.append({ chain: domain, actor: actorOf(credential), action: "secret.write", resource, decision: "granted", reason: "ok", requestId, details: { bytes: value.length } });
          const { version } = await deps.backend.writeSecret(domain, name, value);
          value.fill(0);
          const revision = await deps.authorizer.writeRelationships([relationship(secretRef(domain, name), "domain", domainRef(domain))], []);
          const [row] = await deps.db.query<{ created: boolean }>(
            `INSERT INTO secrets (domain, name, version, authz_revision) VALUES ($1, $2, $3, $4)
             ON CONFLICT (domain, name) DO UPDATE SET version = EXCLUDED.version, authz_revision = EXCLUDED.authz_revision, updated_at = now()
             RETURNING (xmax = 0) AS created`,
            [domain, name, version, revision],
          );
          res.status(row?.created === true ? 201 : 200).json({ name, version });
        },
      ],
    },
    ...(["put", "delete"] as const).map((method): RouteDefinition => ({
      method,
      path: "/v1/domains/:domain/secrets/:name/readers/:node_id",
      doc: {
        summary: method === "put" ? "Let a node read a secret (admin, elevated: secret.grant)" : "Revoke a node's read of a secret; refused on its very next read (admin, elevated: secret.grant)",
        responses: { "204": { description: "done" }, "400": PROBLEM_RESPONSE, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "404": PROBLEM_RESPONSE },
      },
      handlers: [
        deps.requireDomainUser,
        async (req, res) => {
          const domain = parseDomainId(req.params.domain);
          const name = parseSecretName(req.params.name);
          const nodeId = parseNodeId(req.params.node_id);
          const credential = userCredentialOf(res);
          const requestId = requestIdOf(res);
          const resource = auditResource.secret(domain, name);
          await authorizeElevated(deps, { credential, domain, action: "secret.grant", resource, requestId });
          const node = await deps.nodes.findNode(nodeId);
          const [secret] = await deps.db.query("SELECT 1 FROM secrets WHERE domain = $1 AND name = $2", [domain, name]);
          if (node?.domain !== domain || secret === undefined) throw new CustosError("not_found", { detail: "no such secret or node in this domain" });
          await deps.audit.append({
            chain: domain, actor: actorOf(credential), action: "secret.grant", resource, decision: "granted",
            reason: method === "put" ? "reader_added" : "reader_removed", requestId, details: { node_id: nodeId },
          });
          const reader = relationship(secretRef(domain, name), "reader", nodeRef(nodeId));
          const revision = await deps.authorizer.writeRelationships(method === "put" ? [reader] : [], method === "delete" ? [reader] : []);
          // Kept with the secret so that every replica checks at least this fresh (see the read path).
          await deps.db.query("UPDATE secrets SET authz_revision = $3 WHERE domain = $1 AND name = $2", [domain, name, revision]);
          res.status(204).end();
        },
      ],
    })),
    {
      method: "get",
      path: "/v1/nodes/:node_id/secrets/:name",
      doc: {
        summary: "A node reads a secret, wrapped to its own key as a compact JWE (node bearer)",
        security: [{ nodeBearer: [] }],
        responses: {
          "200": { description: "{ name, version, jwe } with Cache-Control: no-store and X-Custos-Secret-KID" },
          "400": PROBLEM_RESPONSE, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "429": PROBLEM_RESPONSE, "503": PROBLEM_RESPONSE,
        },
      },
      handlers: [
        // 1. the bearer, the node and its state
        async (req, res, next) => {
          const nodeId = parseNodeId(req.params.node_id);
          parseSecretName(req.params.name);
          const { key } = await authenticateNode(deps, req, res, nodeId, "secret.read");
          res.locals.nodeKey = key;
          next();
        },
        // 2. the node's and the domain's budgets
        limiter("node"),
        limiter("domain"),
        async (req, res) => {
          const key = authenticatedNodeKey(res);
          const domain = key.node.domain;
          const name = parseSecretName(req.params.name);
          const resource = auditResource.secret(domain, name);
          const requestId = requestIdOf(res);
          // 3. ReBAC: the same answer whether or not the secret exists, at least as fresh as the
          //    last change to its readers, whichever replica made it
          const [secret] = await deps.db.query<{ authz_revision: string | null; version: number }>(
            "SELECT authz_revision, version FROM secrets WHERE domain = $1 AND name = $2",
            [domain, name],
          );
          const revision = secret?.authz_revision ?? undefined;
          const allowed = await deps.authorizer.check(
            { resource: secretRef(domain, name), permission: "read", subject: nodeRef(key.nodeId) },
            revision === undefined ? undefined : { kind: "at_least_as_fresh", token: revision },
          );
          if (!allowed) {
            await deps.denials.record({ chain: domain, actor: auditActor.node(key.nodeId), action: "secret.read", resource, decision: "denied", reason: "permission_denied", requestId });
            throw new CustosError("permission_denied", { detail: "this node may not read this secret" });
          }
          // 4. the audit record is committed before anything is released. The backend is read
          //    meanwhile (5): reading releases nothing, and the value is dropped unless the record
          //    commits; an audit failure still answers 503 audit_unavailable first.
          //    The version Custos recorded, not "the latest": a standby serving a stale read
          //    cannot hand the node the previous value.
          const reading = Promise.all([deps.backend.readSecret(domain, name, secret?.version), wrapKeys.get(key)]);
          reading.catch(() => undefined);
          await deps.audit.append({ chain: domain, actor: auditActor.node(key.nodeId), action: "secret.read", resource, decision: "granted", reason: "ok", requestId, details: { kid: key.kid } });
          // 5. the value, and the node's wrap key, from the backend
          const [stored, wrapKey] = await reading;
          if (stored === undefined) throw new CustosError("permission_denied", { detail: "this node may not read this secret" });
          // 6. wrapped to the node's key
          const jwe = await wrapForNode(stored.value, wrapKey, key.kid);
          stored.value.fill(0);
          res.setHeader("Cache-Control", "no-store");
          res.setHeader("X-Custos-Secret-KID", key.kid);
          res.status(200).json({ name, version: stored.version, jwe });
        },
      ],
    },
  ];
}
