import type { Request, RequestHandler, Response } from "express";
import type { AuthorizeElevatedDependencies } from "../access/elevated-action.ts";
import type { AuditAppender } from "../audit/audit-port.ts";
import { auditActor, auditResource } from "../audit/audit-vocabulary.ts";
import type { DenialRecorder } from "../audit/denial-recorder.ts";
import type { Authorizer } from "../authz/authorizer.ts";
import { authenticatedNodeOf, authenticateNodeStep } from "../http/authenticate-steps.ts";
import { limit } from "../http/limit-step.ts";
import { jsonRequestBody, PROBLEM_RESPONSE } from "../http/openapi.ts";
import { PAGE_PARAMETERS, pageBody, parsePageRequest } from "../http/paging.ts";
import { jsonObjectBody } from "../http/request-body.ts";
import { requestIdOf } from "../http/request-id.ts";
import type { RouteDefinition } from "../http/routes.ts";
import { json, respond, step } from "../http/steps.ts";
import { userCredentialOf } from "../http/credential-locals.ts";
import type { NodeRepository } from "../nodes/node-repo.ts";
import type { WrapKeyCache } from "../nodes/wrap-key-cache.ts";
import { CustosError } from "../platform/errors.ts";
import { parseDomainId, parseNodeId, parseSecretName } from "../platform/names.ts";
import type { RateLimitPolicy } from "../platform/rate-limit/rate-limit-policy.ts";
import type { RateLimitStoreFactory } from "../platform/rate-limit/rate-limit-stores.ts";
import { deleteSecret } from "./delete-secret.ts";
import type { ReadDecisions } from "./read-decisions.ts";
import { readNodeSecret, type SecretReadDenialReason } from "./read-node-secret.ts";
import type { SecretBackend } from "./secret-backend.ts";
import type { SecretEvents } from "./secret-events.ts";
import { listSecrets, showSecret, type SecretDetails, type SecretSummary } from "./secret-metadata.ts";
import { setSecretReader, type SecretReaderChange } from "./secret-readers.ts";
import type { SecretRecord, SecretRepository } from "./secret-repo.ts";
import { writeSecret } from "./write-secret.ts";

export interface SecretRoutesDependencies extends AuthorizeElevatedDependencies {
  readonly audit: AuditAppender;
  readonly denials: DenialRecorder;
  readonly authorizer: Authorizer;
  readonly backend: SecretBackend;
  readonly secrets: SecretRepository;
  readonly nodes: NodeRepository;
  readonly wrapKeys: WrapKeyCache;
  /** Allowed reads remembered by node, secret and revision (read-decisions.ts). */
  readonly decisions?: ReadDecisions;
  readonly requireDomainUser: RequestHandler;
  /** A user of the path's domain who may read its metadata: its admins and auditors (domain.read). */
  readonly requireDomainReader: RequestHandler;
  readonly rateLimits: RateLimitPolicy;
  readonly rateLimitStore: RateLimitStoreFactory;
  readonly events: SecretEvents;
}

const MAX_SECRET_BYTES = 32 * 1024;

function parseSecretValue(body: unknown): Buffer {
  const { value } = jsonObjectBody(body, ["value"]);
  if (typeof value !== "string" || value.length === 0) throw new CustosError("invalid_request", { detail: "value must be a non-empty string" });
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length > MAX_SECRET_BYTES) throw new CustosError("invalid_request", { detail: `value must be at most ${String(MAX_SECRET_BYTES)} bytes` });
  return bytes;
}

/** The secret's row the read path looked up with the node's key (undefined: no such secret). */
function secretRowOf(res: Response): SecretRecord | undefined {
  const row: unknown = res.locals.secretRow;
  return row as SecretRecord | undefined;
}

/** The path's domain and secret name and the signed-in admin, as every admin verb on a secret takes them. */
function adminSecretInput(req: Request, res: Response) {
  return {
    domain: parseDomainId(req.params.domain),
    name: parseSecretName(req.params.name),
    credential: userCredentialOf(res),
    requestId: requestIdOf(res),
  };
}

/** The wire shape of a listed secret: metadata only, never the value. */
function secretSummaryBody(secret: SecretSummary) {
  return { name: secret.name, version: secret.version, updated_at: secret.updatedAt, reader_count: secret.readerCount };
}

function secretDetailsBody(secret: SecretDetails) {
  return {
    name: secret.name, version: secret.version, created_at: secret.createdAt, updated_at: secret.updatedAt,
    readers: secret.readers.map((reader) => ({ node_id: reader.nodeId, name: reader.name ?? null })),
  };
}

const READ_RESPONSES = { "400": PROBLEM_RESPONSE, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "503": PROBLEM_RESPONSE } as const;

export function secretRoutes(deps: SecretRoutesDependencies): RouteDefinition[] {
  /** A node's or its domain's read budget; one summarised record per flood, not one per refused request. */
  const readBudget = (scope: "node" | "domain"): RequestHandler =>
    limit({
      identifier: `secret-reads-per-${scope}`,
      budget: scope === "node" ? deps.rateLimits.secret_reads.per_node : deps.rateLimits.secret_reads.per_domain,
      store: deps.rateLimitStore,
      prefix: `secret-reads:${scope}:`,
      keyOf: (res) => {
        const key = authenticatedNodeOf(res);
        return scope === "node" ? key.nodeId : key.node.domain;
      },
      refuse: async (req, res) => {
        const key = authenticatedNodeOf(res);
        const reason: SecretReadDenialReason = `rate_limited_${scope}`;
        await deps.denials.record({
          chain: key.node.domain, actor: auditActor.node(key.nodeId), action: "secret.read", resource: auditResource.secret(key.node.domain, String(req.params.name)),
          decision: "denied", reason, requestId: requestIdOf(res),
        });
        return new CustosError("rate_limited", { detail: `too many secret reads for this ${scope}` });
      },
    });

  const readerRoute = (method: "put" | "delete", change: SecretReaderChange): RouteDefinition => ({
    method,
    path: "/v1/domains/:domain/secrets/:name/readers/:node_id",
    doc: {
      summary: method === "put" ? "Let a node read a secret (admin, elevated: secret.grant)" : "Revoke a node's read of a secret; refused on its very next read (admin, elevated: secret.grant)",
      responses: { "204": { description: "done" }, "400": PROBLEM_RESPONSE, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "404": PROBLEM_RESPONSE },
    },
    handlers: [
      deps.requireDomainUser,
      respond(
        (input: Parameters<typeof setSecretReader>[1]) => setSecretReader(deps, input),
        (req, res) => ({ ...adminSecretInput(req, res), nodeId: parseNodeId(req.params.node_id), change }),
        () => ({ status: 204 }),
        "setSecretReader",
      ),
    ],
  });

  return [
    {
      method: "get",
      path: "/v1/domains/:domain/secrets",
      doc: {
        summary: "List the domain's secrets in name order: name, version, updated_at, reader_count; never a value (admin or auditor)",
        parameters: [...PAGE_PARAMETERS],
        responses: { "200": { description: "{ items: [{ name, version, updated_at, reader_count }], next_cursor? }" }, ...READ_RESPONSES },
      },
      handlers: [
        deps.requireDomainReader,
        respond(
          (input: Parameters<typeof listSecrets>[1]) => listSecrets(deps, input),
          (req) => ({ domain: parseDomainId(req.params.domain), page: parsePageRequest(req.query) }),
          json(200, (page) => pageBody(page, secretSummaryBody)),
          "listSecrets",
        ),
      ],
    },
    {
      method: "get",
      path: "/v1/domains/:domain/secrets/:name",
      doc: {
        summary: "A secret's metadata and readers; never its value, and the backend is not asked (admin or auditor)",
        responses: { "200": { description: "{ name, version, created_at, updated_at, readers: [{ node_id, name }] }" }, "404": PROBLEM_RESPONSE, ...READ_RESPONSES },
      },
      handlers: [
        deps.requireDomainReader,
        respond(
          (input: Parameters<typeof showSecret>[1]) => showSecret(deps, input),
          (req) => ({ domain: parseDomainId(req.params.domain), name: parseSecretName(req.params.name) }),
          json(200, secretDetailsBody),
          "showSecret",
        ),
      ],
    },
    {
      method: "delete",
      path: "/v1/domains/:domain/secrets/:name",
      doc: {
        summary: "Delete a secret: its readers, every version in the backend, and its row (admin, elevated: secret.delete)",
        responses: { "204": { description: "deleted" }, "404": PROBLEM_RESPONSE, ...READ_RESPONSES },
      },
      handlers: [
        deps.requireDomainUser,
        respond(
          (input: Parameters<typeof deleteSecret>[1]) => deleteSecret(deps, input),
          adminSecretInput,
          () => ({ status: 204 }),
          "deleteSecret",
        ),
      ],
    },
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
        respond(
          (input: Parameters<typeof writeSecret>[1]) => writeSecret(deps, input),
          (req, res) => {
            const { domain, name, credential } = adminSecretInput(req, res);
            return { domain, name, credential, value: parseSecretValue(req.body), requestId: requestIdOf(res) };
          },
          ({ name, version, created }) => ({ status: created ? 201 : 200, body: { name, version } }),
          "writeSecret",
        ),
      ],
    },
    readerRoute("put", "reader_added"),
    readerRoute("delete", "reader_removed"),
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
        // 1. the names in the path, then the bearer, the node and its state
        step("namesInPath", (req) => { parseNodeId(req.params.node_id); parseSecretName(req.params.name); }),
        authenticateNodeStep(deps, "secret.read", (req, res) => ({
          // The secret's row in the same query as the bearer's key: one round trip, not two.
          async findKey(kid) {
            const found = await deps.secrets.findWithNodeKey(kid, parseSecretName(req.params.name));
            res.locals.secretRow = found?.secret;
            return found?.key;
          },
        })),
        // 2. the node's and the domain's budgets
        readBudget("node"),
        readBudget("domain"),
        // 3-6. ReBAC, the audit record, the value, the JWE
        respond(
          (input: Parameters<typeof readNodeSecret>[1]) => readNodeSecret(deps, input),
          (req, res) => ({ key: authenticatedNodeOf(res), secret: secretRowOf(res), name: parseSecretName(req.params.name), requestId: requestIdOf(res) }),
          ({ name, version, jwe, kid }) => ({ status: 200, body: { name, version, jwe }, headers: { "Cache-Control": "no-store", "X-Custos-Secret-KID": kid } }),
          "readNodeSecret",
        ),
      ],
    },
  ];
}
