import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { Options } from "express-rate-limit";
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

/** Seconds until the window ends, as the draft-8 `t` parameter and Retry-After give them. */
function secondsLeft(windowSeconds: number, resetTime: Date | undefined): number {
  if (resetTime === undefined) return windowSeconds;
  return Math.max(0, Math.ceil((resetTime.getTime() - Date.now()) / 1000));
}

/**
 * A budget step: over it, the request is refused (audited first); a store that cannot answer
 * refuses too. The counters are express-rate-limit stores (memory, Redis, PostgreSQL); the
 * step is Custos's own, because on the read path express-rate-limit's middleware cost about
 * 4% of the server's CPU (issue 18): it resolved the client address for a debug line and
 * hashed the key twice a request for a partition key nobody reads. The answer carries the
 * draft-8 `RateLimit` and `RateLimit-Policy` fields, and Retry-After when refused.
 */
export function limit(options: LimitStep): RequestHandler {
  const { identifier, budget } = options;
  const store = options.store(options.prefix);
  // The stores read only the window from the options express-rate-limit would pass them.
  const storeOptions: Pick<Options, "windowMs"> = { windowMs: budget.window_seconds * 1000 };
  void store.init?.(storeOptions as Options);
  const policy = `"${identifier}"; q=${String(budget.limit)}; w=${String(budget.window_seconds)}`;

  const step = (req: Request, res: Response, next: NextFunction): void => {
    let key: string;
    try {
      key = options.keyOf(res);
    } catch (error) {
      next(error);
      return;
    }
    // Fail closed: a counter store that cannot answer refuses the request (its error is the answer).
    Promise.resolve(store.increment(key)).then(
      ({ totalHits, resetTime }) => {
        const seconds = secondsLeft(budget.window_seconds, resetTime);
        res.append("RateLimit", `"${identifier}"; r=${String(Math.max(0, budget.limit - totalHits))}; t=${String(seconds)}`);
        res.append("RateLimit-Policy", policy);
        if (totalHits <= budget.limit) {
          next();
          return;
        }
        res.setHeader("Retry-After", String(seconds));
        options.refuse(req, res).then(
          (error) => { next(error); },
          (error: unknown) => { next(error); },
        );
      },
      (error: unknown) => { next(error); },
    );
  };
  Object.defineProperty(step, "name", { value: `limit(${identifier})` });
  return step;
}
