import { CustosError } from "../../platform/errors.ts";
import { PROBLEM_RESPONSE } from "../../http/openapi.ts";
import type { RouteDefinition } from "../../http/routes.ts";
import { parseDomainId } from "../../platform/names.ts";
import type { DomainRepository } from "./domain.ts";

export interface SignInDiscoveryDependencies {
  readonly domains: DomainRepository;
}

/**
 * `GET /v1/domains/{domain}/sign-in` → `{ issuer, client_id }`: what a native client (`custos
 * login`) needs to start a sign-in at the domain's provider. Public: both values are already
 * visible to anyone who starts a browser sign-in (they are in the authorization URL), and a
 * client cannot present a credential before it has signed in.
 */
export function signInDiscoveryRoutes(deps: SignInDiscoveryDependencies): RouteDefinition[] {
  return [
    {
      method: "get",
      path: "/v1/domains/:domain/sign-in",
      doc: {
        summary: "Where to sign in to a domain: its OpenID provider's issuer and Custos's client_id there (anyone)",
        security: [],
        responses: {
          "200": {
            description: "the domain's sign-in settings",
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  required: ["issuer", "client_id"],
                  properties: { issuer: { type: "string", format: "uri" }, client_id: { type: "string" } },
                },
              },
            },
          },
          "400": PROBLEM_RESPONSE,
          "404": PROBLEM_RESPONSE,
        },
      },
      handlers: [
        async (req, res) => {
          const id = parseDomainId(req.params.domain);
          const domain = await deps.domains.find(id);
          if (domain === undefined) throw new CustosError("not_found", { detail: "no such domain" });
          res.setHeader("Cache-Control", "no-cache");
          res.json({ issuer: domain.issuer, client_id: domain.clientId });
        },
      ],
    },
  ];
}
