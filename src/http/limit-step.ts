import type { Request, RequestHandler, Response } from "express";
import { rateLimit } from "express-rate-limit";
import type { CustosError } from "../platform/errors.ts";
import type { Budget } from "../platform/rate-limit/rate-limit-policy.ts";
import type { RateLimitStoreFactory } from "../platform/rate-limit/rate-limit-stores.ts";

export interface LimitStep {
  /** Names the counter (and the step): `secret-reads-per-node`. */
  readonly identifier: string;
  readonly budget: Budget;
  readonly store: RateLimitStoreFactory;
  /** The store's key prefix: `secret-reads:node:`. */
  readonly prefix: string;
  /** Whose budget this request spends (a node id, a domain), from what earlier steps verified. */
  readonly keyOf: (res: Response) => string;
  /** Audits the refusal and returns the error the client gets. */
  readonly refuse: (req: Request, res: Response) => Promise<CustosError>;
}

/** A budget step: over it, the request is refused (audited first); a store that cannot answer refuses too. */
export function limit(options: LimitStep): RequestHandler {
  const handler = rateLimit({
    windowMs: options.budget.window_seconds * 1000,
    limit: options.budget.limit,
    standardHeaders: "draft-8",
    legacyHeaders: false,
    identifier: options.identifier,
    store: options.store(options.prefix),
    keyGenerator: (_req, res) => options.keyOf(res),
    // Fail closed: a counter store that cannot answer refuses the request.
    passOnStoreError: false,
    handler: (req, res, next) => {
      options.refuse(req, res).then(
        (error) => { next(error); },
        (error: unknown) => { next(error); },
      );
    },
  });
  Object.defineProperty(handler, "name", { value: `limit(${options.identifier})` });
  return handler;
}
