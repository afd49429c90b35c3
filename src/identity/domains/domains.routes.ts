import type { Request, RequestHandler, Response } from "express";
import { auditActor } from "../../audit/audit-vocabulary.ts";
import { requestIdOf } from "../../http/request-id.ts";
import { jsonRequestBody, PROBLEM_RESPONSE } from "../../http/openapi.ts";
import type { RouteDefinition } from "../../http/routes.ts";
import { json, respond } from "../../http/steps.ts";
import { PAGE_PARAMETERS, pageBody, parsePageRequest, type PageRequest } from "../../http/paging.ts";
import { parseDomainId } from "../../platform/names.ts";
import { parseDomainInput, type DomainInput } from "./parse-domain-input.ts";
import { putDomain, type PutDomainDependencies } from "./put-domain.ts";
import { domainBody, domainSummaryBody, listDomains, showDomain, type ListDomainsDependencies, type ShowDomainDependencies } from "./read-domains.ts";

export interface DomainRoutesDependencies extends Omit<PutDomainDependencies, "domains">, Omit<ShowDomainDependencies, "domains"> {
  readonly domains: PutDomainDependencies["domains"] & ListDomainsDependencies["domains"] & ShowDomainDependencies["domains"];
  /** Authenticates the platform operator (and audits the use) before anything else runs. */
  readonly requireOperator: RequestHandler;
  /** The domain's admins and auditors (domain.read). */
  readonly requireDomainReader: RequestHandler;
}

const DOMAIN_PROPERTIES = {
  domain: { type: "string" },
  issuer: { type: "string", format: "uri" },
  client_id: { type: "string" },
  created_at: { type: "string", format: "date-time" },
  updated_at: { type: "string", format: "date-time" },
} as const;

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
      method: "get",
      path: "/v1/domains",
      doc: {
        summary: "Every domain, a page at a time in id order (operator)",
        security: [{ operatorToken: [] }],
        parameters: PAGE_PARAMETERS,
        responses: {
          "200": {
            description: "{ items, next_cursor? }",
            content: { "application/json": { schema: { type: "object", properties: { items: { type: "array", items: { type: "object", properties: DOMAIN_PROPERTIES } }, next_cursor: { type: "string" } } } } },
          },
          "400": PROBLEM_RESPONSE,
          "401": PROBLEM_RESPONSE,
          "501": PROBLEM_RESPONSE,
        },
      },
      handlers: [
        deps.requireOperator,
        respond(
          (page: PageRequest) => listDomains(deps, page),
          (req) => parsePageRequest(req.query),
          json(200, (page: Awaited<ReturnType<typeof listDomains>>) => pageBody(page, domainSummaryBody)),
          "listDomains",
        ),
      ],
    },
    {
      method: "get",
      path: "/v1/domains/:domain",
      doc: {
        summary: "One domain: its provider, its admins and auditors as SpiceDB has them, and how many nodes and secrets it has (admins and auditors)",
        responses: {
          "200": {
            description: "the domain",
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  properties: {
                    ...DOMAIN_PROPERTIES,
                    admins: { type: "array", items: { type: "string" } },
                    auditors: { type: "array", items: { type: "string" } },
                    counts: { type: "object", properties: { nodes: { type: "integer", description: "not decommissioned" }, secrets: { type: "integer" } } },
                  },
                },
              },
            },
          },
          "400": PROBLEM_RESPONSE,
          "401": PROBLEM_RESPONSE,
          "403": PROBLEM_RESPONSE,
          "404": PROBLEM_RESPONSE,
          "503": PROBLEM_RESPONSE,
        },
      },
      handlers: [
        deps.requireDomainReader,
        respond((domain: string) => showDomain(deps, domain), (req) => parseDomainId(req.params.domain), json(200, domainBody), "showDomain"),
      ],
    },
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
