import type { RequestHandler } from "express";
import { requestIdOf } from "../../http/request-id.ts";
import { jsonRequestBody, PROBLEM_RESPONSE } from "../../http/openapi.ts";
import type { RouteDefinition } from "../../http/routes.ts";
import { parseDomainId } from "../../platform/names.ts";
import { parseDomainInput } from "./parse-domain-input.ts";
import { putDomain, type PutDomainDependencies } from "./put-domain.ts";

export interface DomainRoutesDependencies extends PutDomainDependencies {
  /** Authenticates the platform operator (and audits the use) before anything else runs. */
  readonly requireOperator: RequestHandler;
}

export function domainRoutes(deps: DomainRoutesDependencies): RouteDefinition[] {
  return [
    {
      method: "put",
      path: "/v1/domains/:domain",
      doc: {
        summary: "Create or replace a domain: its OpenID provider, admins and auditors (operator)",
        security: [{ operatorToken: [] }],
        requestBody: jsonRequestBody(
          {
            issuer: { type: "string", format: "uri" },
            client_id: { type: "string" },
            admins: { type: "array", items: { type: "string" } },
            auditors: { type: "array", items: { type: "string" } },
          },
          ["issuer", "client_id"],
        ),
        responses: {
          "201": { description: "created" },
          "200": { description: "replaced" },
          "400": PROBLEM_RESPONSE,
          "401": PROBLEM_RESPONSE,
          "501": PROBLEM_RESPONSE,
        },
      },
      handlers: [
        deps.requireOperator,
        async (req, res) => {
          const id = parseDomainId(req.params.domain);
          const input = parseDomainInput(req.body);
          const { created } = await putDomain(deps, id, input, { actor: "operator", requestId: requestIdOf(res) });
          res.status(created ? 201 : 200).json({ domain: id, issuer: input.issuer, client_id: input.clientId, admins: input.admins, auditors: input.auditors });
        },
      ],
    },
  ];
}
