import type { ErrorRequestHandler, Response } from "express";
import { CustosError, isCustosError, type ErrorCode } from "../platform/errors.ts";
import { storeUnavailableFrom } from "../platform/db/store-errors.ts";
import type { Logger } from "../platform/logging.ts";
import { isDomainId } from "../platform/names.ts";
import { challengeFor } from "./challenges.ts";
import { isBrowserNavigation, sendHtml } from "./html.ts";
import { renderProblemPage } from "./landing-page.ts";
import { PROBLEM_CODES, PROBLEM_TYPE_BASE } from "./problem-codes.ts";
import { requestIdOf } from "./request-id.ts";
import { routeTemplateOf } from "./routes.ts";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export interface ProblemDocument {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: ErrorCode;
  readonly detail?: string;
  readonly request_id: string;
  readonly [extension: string]: unknown;
}

export function problemDocument(error: CustosError, requestId: string): ProblemDocument {
  const { status, title } = PROBLEM_CODES[error.code];
  return {
    ...error.extensions,
    type: `${PROBLEM_TYPE_BASE}${error.code}`,
    title,
    status,
    code: error.code,
    ...(error.detail === undefined ? {} : { detail: error.detail }),
    request_id: requestId,
  };
}

export function sendProblem(res: Response, error: CustosError): void {
  const document = problemDocument(error, requestIdOf(res));
  const challenge = challengeFor(error, res.req);
  if (challenge !== undefined) res.setHeader("WWW-Authenticate", challenge);
  if (error.retryAfterSeconds !== undefined) res.setHeader("Retry-After", String(error.retryAfterSeconds));
  if (error.allow !== undefined) res.setHeader("Allow", error.allow.join(", "));
  // A person's browser gets a page with a way on; every API client keeps problem+json.
  if (isBrowserNavigation(res.req)) {
    sendHtml(res, document.status, renderProblemPage(document, nextStepFor(res.req.path)));
    return;
  }
  res.status(document.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(document));
}

const CALLBACK_PATH = /^\/auth\/([a-z0-9][a-z0-9-]{0,62})\/callback$/;

/** Where a refused browser goes on: a failed or cancelled sign-in starts again; anything else, the start page. */
function nextStepFor(path: string): { href: string; text: string } {
  const domain = CALLBACK_PATH.exec(path)?.[1];
  if (domain !== undefined && isDomainId(domain)) return { href: `/auth/${domain}/login`, text: `Sign in to ${domain} again` };
  return { href: "/", text: "Go to the Custos start page" };
}

/**
 * The router decodes route parameters and throws a URIError for a malformed escape; the path
 * check refuses those first, and this keeps any that slip past a 400, not a 500.
 */
function fromRouter(error: unknown): CustosError | undefined {
  return error instanceof URIError ? new CustosError("invalid_name", { detail: "the path holds a malformed percent-escape" }) : undefined;
}

/**
 * The last middleware: every error becomes problem+json. Anything that is not a known
 * refusal is logged with its request id and answered as `internal`, with nothing else.
 */
export function problemErrorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const known = isCustosError(error) ? error : (fromRouter(error) ?? storeUnavailableFrom(error));
    if (known !== undefined) {
      if (PROBLEM_CODES[known.code].status >= 500) {
        logger.warn({ request_id: requestIdOf(res), code: known.code, err: known.cause ?? known }, "request refused: dependency unavailable");
      }
      sendProblem(res, known);
      return;
    }
    // The route template, not the raw path: the path is client-chosen text of any length.
    logger.error({ request_id: requestIdOf(res), method: req.method, route: routeTemplateOf(req), err: error }, "unexpected error");
    sendProblem(res, new CustosError("internal"));
  };
}
