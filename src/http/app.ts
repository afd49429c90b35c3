import { context } from "@opentelemetry/api";
import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from "express";
import { CustosError } from "../platform/errors.ts";
import type { TrustProxy } from "../platform/config.ts";
import type { Logger } from "../platform/logging.ts";
import type { Metrics } from "../platform/metrics.ts";
import type { ReadinessProbe } from "../platform/readiness.ts";
import { createStages, failSpan, startRequestSpan, startStepSpan, traceFields, type Stages } from "../platform/telemetry.ts";
import { closeAfterResponse, jsonBody, payloadTooLarge } from "./json-body.ts";
import { buildOpenApiDocument } from "./openapi.ts";
import { operationsRoutes } from "./operations.routes.ts";
import { problemErrorHandler } from "./problem.ts";
import { clientRequestIdOf, requestId, requestIdOf } from "./request-id.ts";
import { mountRoutes, routeTemplateOf, type RouteDefinition } from "./routes.ts";
import { securityHeaders } from "./security-headers.ts";

/** Request bodies above this are refused with 413 before a byte of them is parsed. */
export const MAX_BODY_BYTES = 64 * 1024;

export interface HttpDependencies {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly routes: readonly RouteDefinition[];
  readonly readiness: readonly ReadinessProbe[];
  readonly warnings?: readonly string[];
  readonly version?: string;
  /** Behind a TLS-terminating proxy: whose X-Forwarded-* to believe (CUSTOS_TRUST_PROXY). */
  readonly trustProxy?: TrustProxy;
  /** CUSTOS_PUBLIC_URL: when it is https, every answer carries HSTS. */
  readonly publicUrl?: string | undefined;
}

/**
 * Request targets longer than this are refused before routing: no route needs more, and the
 * steps after this one (routing, decoding, logging) then only ever see bounded text.
 */
export const MAX_REQUEST_TARGET_CHARS = 2048;

/**
 * The path is checked before any route sees it: bounded in length (414 uri_too_long), and
 * every percent-escape well formed and decoding to UTF-8 (400 invalid_name). Express would
 * otherwise throw a URIError while decoding a route parameter, which is no refusal of ours.
 */
function requestTargetCheck(): RequestHandler {
  return (req, _res, next) => {
    if (req.url.length > MAX_REQUEST_TARGET_CHARS) {
      throw new CustosError("uri_too_long", { detail: `request targets are limited to ${String(MAX_REQUEST_TARGET_CHARS)} characters` });
    }
    if (!isDecodablePath(req.path)) {
      throw new CustosError("invalid_name", { detail: "the path holds a malformed percent-escape" });
    }
    next();
  };
}

/** Every `%` starts an escape that decodes, with the rest, to UTF-8. Linear: one decode. */
export function isDecodablePath(path: string): boolean {
  if (!path.includes("%")) return true;
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * A declared Content-Length over the cap is refused before a byte of the body is read, and
 * the connection is closed after the answer so that the body is never read at all.
 */
function declaredLengthCap(maxBytes: number): RequestHandler {
  return (req, res, next) => {
    const declared = Number(req.get("content-length") ?? "0");
    if (Number.isFinite(declared) && declared > maxBytes) {
      closeAfterResponse(res);
      throw payloadTooLarge(maxBytes);
    }
    next();
  };
}

/**
 * The access log, and the request's span: every later step runs in the span's context (the
 * request and response emitters are bound to it, so body parsing keeps it), and the span ends
 * with the log line, which carries its trace and span ids.
 */
function accessLog(logger: Logger, metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const request = startRequestSpan(req.method);
    let logged = false;
    const log = (outcome: "answered" | "abandoned") => {
      if (logged) return;
      logged = true;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // The route pattern, never the raw path: it keeps labels bounded and ids out of metrics.
      const route = routeTemplateOf(req);
      // A request that never finished (the client went away, a store hung) is logged too,
      // with no status: otherwise exactly the requests worth looking at would be invisible.
      const status = outcome === "answered" ? String(res.statusCode) : "abandoned";
      metrics.httpRequests.inc({ method: req.method, route, status });
      metrics.httpDuration.observe({ method: req.method, route }, seconds);
      request.span.updateName(`${req.method} ${route}`);
      request.span.setAttributes({ "http.route": route, "custos.request_id": requestIdOf(res), ...(outcome === "answered" ? { "http.response.status_code": res.statusCode } : { "custos.abandoned": true }) });
      request.span.end();
      // The line is built only when it will be written (CUSTOS_LOG_LEVEL warn or error skips it).
      if (logger.isLevelEnabled("info")) logger.info(
        {
          request_id: requestIdOf(res), client_request_id: clientRequestIdOf(res), method: req.method, route,
          ...(outcome === "answered" ? { status: res.statusCode } : { abandoned: true }), ms: Math.round(seconds * 1000),
          ...traceFields(request.span),
        },
        "request",
      );
    };
    res.on("finish", () => { log("answered"); });
    res.on("close", () => { if (!res.writableFinished) log("abandoned"); });
    context.bind(request.context, req);
    context.bind(request.context, res);
    context.with(request.context, next);
  };
}

/**
 * A route's step in its own span and in the stage histogram, under the step's name
 * (`authenticateNode`, `limit(secret-reads-per-node)`, `readNodeSecret`). The step ends when
 * it hands over (next), when its promise settles, or when the answer is sent.
 */
function timedStep(handler: RequestHandler, stages: Stages): RequestHandler {
  const name = handler.name === "" ? "step" : handler.name;
  const timed = (req: Request, res: Response, next: NextFunction): unknown => {
    const started = performance.now();
    const step = startStepSpan(name);
    const state = { ended: false };
    const end = (error?: unknown) => {
      if (state.ended) return;
      state.ended = true;
      if (error !== undefined && error !== "route" && error !== "router") failSpan(step.span, error);
      step.span.end();
      stages.observe(name, (performance.now() - started) / 1000);
    };
    let result: unknown;
    try {
      const handOver = (error?: unknown) => {
        end(error);
        next(error);
      };
      result = step.context === undefined ? handler(req, res, handOver) : context.with(step.context, () => handler(req, res, handOver));
    } catch (error) {
      end(error);
      throw error;
    }
    if (result instanceof Promise) result.then(() => { end(); }, (error: unknown) => { end(error); });
    else if (!state.ended) res.once("close", () => { end(); });
    return result;
  };
  Object.defineProperty(timed, "name", { value: name });
  return timed as RequestHandler;
}

export function buildHttpApp(deps: HttpDependencies): Express {
  const app = express();
  app.disable("x-powered-by");
  // No ETag on API answers: hashing every body buys nothing for answers that are no-store
  // (a secret's JWE) or change with each write, and a 304 would need the client's If-None-Match.
  app.set("etag", false);
  const trustProxy = deps.trustProxy ?? false;
  // Express wants a mutable array; the configured list is copied rather than cast.
  app.set("trust proxy", trustProxy === false || typeof trustProxy === "number" ? trustProxy : [...trustProxy]);
  app.set("json spaces", 0);
  app.use(requestId());
  app.use(securityHeaders({ httpsPublicUrl: deps.publicUrl?.startsWith("https:") === true }));
  app.use(accessLog(deps.logger, deps.metrics));
  app.use(requestTargetCheck());
  app.use(declaredLengthCap(MAX_BODY_BYTES));
  app.use(jsonBody(MAX_BODY_BYTES));

  const routes: RouteDefinition[] = [];
  const openApiDocument = () => buildOpenApiDocument(routes, deps.version ?? "0.0.0");
  routes.push(
    ...operationsRoutes({ metrics: deps.metrics, readiness: deps.readiness, warnings: deps.warnings ?? [], openApiDocument }),
    ...deps.routes,
  );
  const stages = createStages(deps.metrics.stageDuration);
  mountRoutes(app, routes.map((route) => ({ ...route, handlers: route.handlers.map((handler) => timedStep(handler, stages)) })));

  app.use(() => {
    throw new CustosError("not_found");
  });
  app.use(problemErrorHandler(deps.logger));
  return app;
}
