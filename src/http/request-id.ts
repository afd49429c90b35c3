import { randomUUID } from "node:crypto";
import type { RequestHandler, Response } from "express";

/**
 * A caller's own X-Request-Id, kept only for correlation with the caller's logs: at most 64
 * characters of A-Z, a-z, 0-9 and `.`, `_`, `:`, `-`. Anything else is dropped, not repaired.
 */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Every request gets a request id made here, never one the client chose: audit records and
 * logs are keyed by it, and a client able to pick it could make its records look like someone
 * else's (the seeder's, another request's). A sane client X-Request-Id is kept apart, as the
 * client request id. The response's X-Request-Id is always the server's id.
 */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const id = randomUUID();
    res.locals.requestId = id;
    const incoming = req.get("x-request-id");
    if (incoming !== undefined && isAcceptableClientRequestId(incoming)) res.locals.clientRequestId = incoming;
    res.setHeader("X-Request-Id", id);
    next();
  };
}

export function isAcceptableClientRequestId(value: string): boolean {
  return value.length <= 64 && CLIENT_REQUEST_ID.test(value);
}

/** The server-made id of this request. */
export function requestIdOf(res: Response): string {
  const id: unknown = res.locals.requestId;
  return typeof id === "string" ? id : "unknown";
}

/** The caller's own X-Request-Id, when it was acceptable; for correlation only, never a key. */
export function clientRequestIdOf(res: Response): string | undefined {
  const id: unknown = res.locals.clientRequestId;
  return typeof id === "string" ? id : undefined;
}

