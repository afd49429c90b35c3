import type { RouteDefinition } from "./routes.ts";
import type { Metrics } from "../platform/metrics.ts";
import { checkReadiness, type ReadinessProbe } from "../platform/readiness.ts";

export interface OperationsDependencies {
  readonly metrics: Metrics;
  readonly readiness: readonly ReadinessProbe[];
  /** Facts an operator must see in /readyz, such as "development mode". */
  readonly warnings: readonly string[];
  readonly openApiDocument: () => Record<string, unknown>;
}

export function operationsRoutes(deps: OperationsDependencies): RouteDefinition[] {
  return [
    {
      method: "get",
      path: "/healthz",
      handlers: [(_req, res) => { res.json({ status: "ok" }); }],
      doc: { summary: "The process is up", responses: { "200": { description: "up" } } },
    },
    {
      method: "get",
      path: "/readyz",
      handlers: [
        async (_req, res) => {
          const report = await checkReadiness(deps.readiness, 2000);
          res.status(report.ready ? 200 : 503).json({
            status: report.ready ? "ready" : "unavailable",
            checks: report.checks,
            ...(deps.warnings.length > 0 ? { warnings: deps.warnings } : {}),
          });
        },
      ],
      doc: {
        summary: "The store, the authorizer and the secret backend can serve",
        responses: { "200": { description: "ready" }, "503": { description: "a dependency is unavailable" } },
      },
    },
    {
      method: "get",
      path: "/metrics",
      handlers: [
        async (_req, res) => {
          res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
        },
      ],
      doc: { summary: "Prometheus metrics", responses: { "200": { description: "text exposition format" } } },
    },
    {
      method: "get",
      path: "/v1/openapi.json",
      handlers: [(_req, res) => { res.json(deps.openApiDocument()); }],
      doc: { summary: "This document", responses: { "200": { description: "OpenAPI 3.1" } } },
    },
  ];
}
