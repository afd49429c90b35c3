import type { Request, RequestHandler, Response } from "express";
import { auditActor } from "../../audit/audit-vocabulary.ts";
import { requestIdOf } from "../../http/request-id.ts";
import { jsonRequestBody, PROBLEM_RESPONSE } from "../../http/openapi.ts";
import type { RouteDefinition } from "../../http/routes.ts";
import { json, respond } from "../../http/steps.ts";
import { parseDomainId } from "../../platform/names.ts";
import { parseDomainInput, type DomainInput } from "./parse-domain-input.ts";
import { putDomain, type PutDomainDependencies } from "./put-domain.ts";

export interface DomainRoutesDependencies extends PutDomainDependencies {
  /** Authenticates the platform operator (and audits the use) before anything else runs. */
  readonly requireOperator: RequestHandler;
}

interface DomainPut {
  readonly id: string;
  readonly input: DomainInput;
  readonly requestId: string;
}

/** The path's domain id, then the body: a bad id is refused before the body is looked at. */
function domainPutOf(req: Request, res: Response): DomainPut {
  const id = parseDomainId(req.params.domain);
  return { id, input: parseDomainInput(req.body), requestId: requestIdOf(res) };
}

export function domainRoutes(deps: DomainRoutesDependencies): RouteDefinition[] {
  const putDomainAsOperator = async (put: DomainPut) => {
    const { created } = await putDomain(deps, put.id, put.input, { actor: auditActor.operator, requestId: put.requestId });
    return { created, put };
  };
  const domainAnswer = ({ put }: { readonly created: boolean; readonly put: DomainPut }) => ({
    domain: put.id, issuer: put.input.issuer, client_id: put.input.clientId, admins: put.input.admins, auditors: put.input.auditors,
  });
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
        respond(putDomainAsOperator, domainPutOf, json(({ created }) => (created ? 201 : 200), domainAnswer)),
      ],
    },
  ];
}
