import type { NextFunction, Request, RequestHandler, Response } from "express";

/**
 * The small adapters that turn a capability's verbs into a route's ordered list of named
 * steps (the way node-oidc-provider lists its actions). Verbs take plain inputs and return
 * plain results; only these adapters see `req` and `res`.
 */

/** What a verb's result becomes on the wire. */
export interface Reply {
  readonly status: number;
  /** JSON; none for a 204. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Names a handler, so a route's list and a stack trace say which step ran. */
function named<T extends RequestHandler>(name: string, handler: T): T {
  Object.defineProperty(handler, "name", { value: name });
  return handler;
}

/** A step that checks or prepares something and lets the next one run; it throws to refuse. */
export function step(name: string, work: (req: Request, res: Response) => void | Promise<void>): RequestHandler {
  return named(name, async (req: Request, res: Response, next: NextFunction) => {
    await work(req, res);
    next();
  });
}

/**
 * The last step of a route: reads the verb's plain input from the request (parsing throws
 * 400s before the verb runs), calls the verb, and sends what `reply` makes of its result.
 */
export function respond<Input, Output>(
  verb: (input: Input) => Promise<Output>,
  input: (req: Request, res: Response) => Input,
  reply: (output: Output) => Reply,
  name = verb.name,
): RequestHandler {
  return named(name, async (req: Request, res: Response) => {
    const answer = reply(await verb(input(req, res)));
    for (const [header, value] of Object.entries(answer.headers ?? {})) res.setHeader(header, value);
    if (answer.body === undefined) res.status(answer.status).end();
    else res.status(answer.status).json(answer.body);
  });
}

/**
 * The usual reply: `status` (or the status the result calls for) with the result, or what
 * `bodyOf` makes of it, as JSON.
 */
export function json<Output>(status: number | ((output: Output) => number), bodyOf: (output: Output) => unknown = (output) => output): (output: Output) => Reply {
  return (output) => ({ status: typeof status === "number" ? status : status(output), body: bodyOf(output) });
}
