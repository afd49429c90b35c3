import type { NextFunction, Request, Response } from "express";
import type { Store } from "express-rate-limit";
import { describe, expect, it } from "vitest";
import { limit } from "../../src/http/limit-step.ts";
import { CustosError } from "../../src/platform/errors.ts";

/** A response that keeps its headers, and the step's outcome: next() or next(error). */
function run(step: ReturnType<typeof limit>): Promise<{ error: unknown; headers: Map<string, string[]> }> {
  const headers = new Map<string, string[]>();
  const res = {
    append: (name: string, value: string) => { headers.set(name, [...(headers.get(name) ?? []), value]); return res; },
    setHeader: (name: string, value: string) => { headers.set(name, [value]); return res; },
  } as unknown as Response;
  return new Promise((resolve) => {
    const next: NextFunction = (error?: unknown) => { resolve({ error, headers }); };
    step({} as unknown as Request, res, next);
  });
}

function counting(fails = false): Store {
  let hits = 0;
  return {
    increment: () => (fails ? Promise.reject(new CustosError("store_unavailable")) : Promise.resolve({ totalHits: (hits += 1), resetTime: new Date(Date.now() + 30_000) })),
    decrement: () => Promise.resolve(),
    resetKey: () => Promise.resolve(),
  };
}

const refused: string[] = [];
const options = (store: Store) => ({
  identifier: "secret-reads-per-node",
  budget: { limit: 2, window_seconds: 60 },
  store: () => store,
  prefix: "secret-reads:node:",
  keyOf: () => "node-1",
  refuse: () => { refused.push("refused"); return Promise.resolve(new CustosError("rate_limited")); },
});

describe("limit", () => {
  it("lets the budget through with draft-8 RateLimit fields, then refuses with Retry-After, audited first", async () => {
    const step = limit(options(counting()));
    const first = await run(step);
    expect(first.error).toBeUndefined();
    expect(first.headers.get("RateLimit")).toEqual(['"secret-reads-per-node"; r=1; t=30']);
    expect(first.headers.get("RateLimit-Policy")).toEqual(['"secret-reads-per-node"; q=2; w=60']);
    expect((await run(step)).error).toBeUndefined();
    refused.length = 0;
    const third = await run(step);
    expect(third.error).toMatchObject({ code: "rate_limited" });
    expect(third.headers.get("Retry-After")).toEqual(["30"]);
    expect(third.headers.get("RateLimit")).toEqual(['"secret-reads-per-node"; r=0; t=30']);
    expect(refused).toEqual(["refused"]);
  });

  it("refuses when the counter store cannot answer: a budget that cannot be counted is not spent", async () => {
    const outcome = await run(limit(options(counting(true))));
    expect(outcome.error).toMatchObject({ code: "store_unavailable" });
  });
});
