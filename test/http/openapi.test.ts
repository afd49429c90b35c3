import { describe, expect, it } from "vitest";
import { buildOpenApiDocument } from "../../src/http/openapi.ts";
import type { RouteDefinition } from "../../src/http/routes.ts";

describe("the OpenAPI document", () => {
  const routes: RouteDefinition[] = [
    {
      method: "get",
      path: "/v1/domains/:domain/audit/events",
      handlers: [],
      doc: { summary: "events", parameters: [{ name: "after", in: "query", schema: { type: "integer" } }] },
    },
    { method: "put", path: "/v1/domains/:domain", handlers: [], doc: { summary: "put", security: [{ operatorToken: [] }] } },
    { method: "get", path: "/internal", handlers: [] },
  ];
  const document = buildOpenApiDocument(routes, "1.2.3") as {
    openapi: string;
    paths: Record<string, Record<string, { parameters?: { name: string; in: string }[]; security?: Record<string, unknown>[] }>>;
    components: { securitySchemes: Record<string, unknown> };
  };

  it("keeps both the path parameters and a route's own query parameters", () => {
    const parameters = document.paths["/v1/domains/{domain}/audit/events"]?.get?.parameters ?? [];
    expect(parameters.map((p) => `${p.in}:${p.name}`)).toEqual(["path:domain", "query:after"]);
  });

  it("declares every security scheme a route names, and leaves undocumented routes out", () => {
    expect(document.openapi).toBe("3.1.0");
    for (const methods of Object.values(document.paths)) {
      for (const operation of Object.values(methods)) {
        for (const requirement of operation.security ?? []) {
          for (const scheme of Object.keys(requirement)) expect(document.components.securitySchemes).toHaveProperty(scheme);
        }
      }
    }
    expect(document.paths).not.toHaveProperty("/internal");
  });
});
