import type { Express, Request, RequestHandler } from "express";
import { CustosError } from "../platform/errors.ts";

export type HttpMethod = "get" | "post" | "put" | "delete";

/** An OpenAPI 3.1 operation object, as much of it as a route wants to say. */
export type OpenApiOperation = Readonly<Record<string, unknown>>;

/**
 * One route of the API. Capabilities export arrays of these; the app mounts them and the
 * OpenAPI document is built from the same list, so the two cannot drift apart.
 */
export interface RouteDefinition {
  readonly method: HttpMethod;
  /** Express path syntax: /v1/domains/:domain */
  readonly path: string;
  /** Ordered steps; async steps may throw CustosError (Express 5 forwards rejections). */
  readonly handlers: readonly RequestHandler[];
  readonly doc?: OpenApiOperation;
}

/** Mounts the routes; any other method on a known path answers 405 with an Allow header. */
export function mountRoutes(app: Express, routes: readonly RouteDefinition[]): void {
  const byPath = new Map<string, RouteDefinition[]>();
  for (const route of routes) byPath.set(route.path, [...(byPath.get(route.path) ?? []), route]);
  for (const [path, group] of byPath) {
    const methods = group.map((route) => route.method.toUpperCase());
    if (methods.includes("GET")) methods.push("HEAD");
    const chain = app.route(path);
    for (const route of group) chain[route.method](...route.handlers);
    chain.all(() => {
      throw new CustosError("method_not_allowed", { detail: `allowed: ${methods.join(", ")}`, allow: methods });
    });
  }
}

/** `/v1/domains/:domain` → `/v1/domains/{domain}` */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, "{$1}");
}

/**
 * The route template that matched (`/v1/nodes/:node_id/secrets/:name`), never the raw path:
 * what reaches logs, metrics and audit records is then a bounded set of developer-written
 * strings rather than client-chosen text.
 */
export function routeTemplateOf(req: Request): string {
  const matched: unknown = (req.route as { path?: unknown } | undefined)?.path;
  return typeof matched === "string" ? matched : "unmatched";
}
