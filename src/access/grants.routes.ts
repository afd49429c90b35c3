import type { Request, RequestHandler, Response } from "express";
import { requestIdOf } from "../http/request-id.ts";
import { jsonRequestBody, PROBLEM_RESPONSE } from "../http/openapi.ts";
import { PAGE_PARAMETERS, pageBody, parsePageRequest } from "../http/paging.ts";
import type { RouteDefinition } from "../http/routes.ts";
import { json, respond } from "../http/steps.ts";
import { userCredentialOf } from "../http/credential-locals.ts";
import type { UserCredential } from "../identity/credentials.ts";
import type { DomainRepository } from "../identity/domains/domain.ts";
import { CustosError } from "../platform/errors.ts";
import type { Database } from "../platform/db/database.ts";
import { parseDomainId } from "../platform/names.ts";
import type { GrantSigningKeys, SigningKeys } from "./signing-keys.ts";
import { listIssuedGrants, type IssuedGrantRecord } from "./issued-grants.ts";
import { issueGrant, MAX_GRANT_TTL_SECONDS, parseGrantRequest, type GrantRequest, type IssueGrantDependencies } from "./issue-grant.ts";

export interface GrantRoutesDependencies extends IssueGrantDependencies {
  readonly domains: DomainRepository;
  readonly keys: GrantSigningKeys;
  /** The domain's event keys: published in the same JWKS, with custos_use "event". */
  readonly eventKeys: Pick<SigningKeys, "publicJwks">;
  /** Authenticates a user of the path's domain (id_token or session) and sets the credential. */
  readonly requireDomainUser: RequestHandler;
  /** A user of the path's domain who may read its metadata: its admins and auditors (domain.read). */
  readonly requireDomainReader: RequestHandler;
  /** Where the audit chain is: issued grants are read from it. */
  readonly db: Database;
}

interface GrantAsked {
  readonly domain: string;
  readonly credential: UserCredential;
  readonly request: GrantRequest;
  readonly requestId: string;
}

function grantAskedOf(req: Request, res: Response): GrantAsked {
  const domain = parseDomainId(req.params.domain);
  const credential = userCredentialOf(res);
  return { domain, credential, request: parseGrantRequest(req.body), requestId: requestIdOf(res) };
}

/** The wire shape of an issued grant: what the chain recorded of it, never the grant itself. */
function issuedGrantBody(grant: IssuedGrantRecord) {
  return { jti: grant.jti, node_id: grant.nodeId, action: grant.action, actor: grant.actor, iat: grant.iat, exp: grant.exp, kid: grant.kid ?? null };
}

export function grantRoutes(deps: GrantRoutesDependencies): RouteDefinition[] {
  const issue = (asked: GrantAsked) => issueGrant(deps, asked.credential, asked.domain, asked.request, asked.requestId);
  /** Public keys are public: anyone may fetch them, and caches may keep them for a minute. */
  const sendPublicJwks: RequestHandler = async (req, res) => {
    const domain = parseDomainId(req.params.domain);
    if ((await deps.domains.find(domain)) === undefined) throw new CustosError("not_found", { detail: "no such domain" });
    res.setHeader("Cache-Control", "public, max-age=60");
    const [grantKeys, eventKeys] = await Promise.all([deps.keys.publicJwks(domain), deps.eventKeys.publicJwks(domain)]);
    res.json({ keys: [...grantKeys.keys, ...eventKeys.keys] });
  };
  return [
    {
      method: "post",
      path: "/v1/domains/:domain/grants",
      doc: {
        summary: "Issue a short-lived access grant for a node (admin, elevated: access.issue)",
        requestBody: jsonRequestBody(
          {
            node_id: { type: "string", format: "uuid" },
            action: { type: "string" },
            ttl_seconds: { type: "integer", minimum: 1, maximum: MAX_GRANT_TTL_SECONDS },
          },
          ["node_id", "action"],
        ),
        responses: { "201": {
          description:
            "{ grant, expires_at, jti }: grant is a JWS (header typ custos-grant+jwt, alg EdDSA, kid) with claims iss urn:custos:domain:<domain>, " +
            "aud node:<node_id>, sub and act.sub the admin, action, acr and auth_time of the step-up sign-in, jti, iat, exp (at most 900 s). " +
            "Verify offline against GET /v1/domains/{domain}/jwks.json, requiring iss, aud, typ and alg EdDSA.",
        }, "400": PROBLEM_RESPONSE, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "503": PROBLEM_RESPONSE },
      },
      handlers: [
        deps.requireDomainUser,
        respond(issue, grantAskedOf, json(201)),
      ],
    },
    {
      method: "get",
      path: "/v1/domains/:domain/grants",
      doc: {
        summary: "The grants the domain issued, from its audit chain, oldest first: jti, node_id, action, actor, iat, exp, kid; never the grant (admin or auditor)",
        parameters: [...PAGE_PARAMETERS],
        responses: { "200": { description: "{ items: [{ jti, node_id, action, actor, iat, exp, kid }], next_cursor? }" }, "400": PROBLEM_RESPONSE, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "503": PROBLEM_RESPONSE },
      },
      handlers: [
        deps.requireDomainReader,
        respond(
          (input: Parameters<typeof listIssuedGrants>[1]) => listIssuedGrants(deps.db, input),
          (req) => ({ domain: parseDomainId(req.params.domain), page: parsePageRequest(req.query) }),
          json(200, (page) => pageBody(page, issuedGrantBody)),
          "listIssuedGrants",
        ),
      ],
    },
    {
      method: "get",
      path: "/v1/domains/:domain/jwks.json",
      doc: {
        summary:
          "The domain's public signing keys, for offline verification (anyone): each JWK carries kty, crv, x, kid, alg EdDSA, use sig and " +
          "custos_use — \"grant\" for grant keys, \"event\" for event keys (a verifier of events uses only the event keys)",
        security: [],
        responses: { "200": { description: "a JWK set" }, "400": PROBLEM_RESPONSE, "404": PROBLEM_RESPONSE },
      },
      handlers: [sendPublicJwks],
    },
  ];
}
