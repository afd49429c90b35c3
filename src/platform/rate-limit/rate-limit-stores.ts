import { CustosError, isCustosError } from "../errors.ts";
import { MemoryStore, type ClientRateLimitInfo, type Options, type Store } from "express-rate-limit";
import type { Database } from "../db/database.ts";

/**
 * Counters in PostgreSQL, so every replica spends the same budget: one upsert per hit that
 * starts a new window when the previous one has ended.
 */
export class PostgresRateLimitStore implements Store {
  private windowMs = 60_000;
  readonly localKeys = false;

  constructor(private readonly db: Database, readonly prefix: string) {}

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const [row] = await this.db.query<{ hits: number; reset_ms: number | string }>(
      `INSERT INTO rate_limit_counters AS c (key, hits, reset_at)
       VALUES ($1, 1, now() + make_interval(secs => $2 / 1000.0))
       ON CONFLICT (key) DO UPDATE SET
         hits = CASE WHEN c.reset_at <= now() THEN 1 ELSE c.hits + 1 END,
         reset_at = CASE WHEN c.reset_at <= now() THEN now() + make_interval(secs => $2 / 1000.0) ELSE c.reset_at END
       RETURNING hits, (extract(epoch FROM reset_at) * 1000)::float8 AS reset_ms`,
      [this.prefix + key, this.windowMs],
    );
    if (row === undefined) throw new Error("the rate-limit counter was not returned");
    return { totalHits: row.hits, resetTime: new Date(Number(row.reset_ms)) };
  }

  async decrement(key: string): Promise<void> {
    await this.db.query("UPDATE rate_limit_counters SET hits = greatest(hits - 1, 0) WHERE key = $1", [this.prefix + key]);
  }

  async resetKey(key: string): Promise<void> {
    await this.db.query("UPDATE rate_limit_counters SET hits = 0 WHERE key = $1", [this.prefix + key]);
  }
}

export type RateLimitStoreFactory = (prefix: string) => Store;

export function rateLimitStoreFactory(kind: "memory" | "postgres" | "redis", db: Database, redis?: RedisCounterClient): RateLimitStoreFactory {
  if (kind === "postgres") return (prefix) => new PostgresRateLimitStore(db, prefix);
  if (kind === "redis") {
    if (redis === undefined) throw new Error("the redis rate-limit store needs a Redis client");
    return (prefix) => new RedisRateLimitStore(redis, prefix);
  }
  return () => new MemoryStore();
}

/** The few Redis commands the store needs; node-redis's client satisfies it. */
export interface RedisCounterClient {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  del(key: string): Promise<unknown>;
  decr(key: string): Promise<unknown>;
}

/**
 * One atomic step per hit: count it, start the window's expiry on the first hit, and report
 * the count and the time left, so replicas sharing the Redis spend one budget.
 */
const INCREMENT_SCRIPT = `
local hits = redis.call("INCR", KEYS[1])
if hits == 1 then redis.call("PEXPIRE", KEYS[1], ARGV[1]) end
local ttl = redis.call("PTTL", KEYS[1])
if ttl < 0 then redis.call("PEXPIRE", KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return { hits, ttl }`;

/**
 * Redis going away after start-up (the client is offline, a socket reset) must answer like
 * any other store that cannot answer: 503 store_unavailable, never a 500. The request is
 * still refused: a budget that cannot be counted is not spent.
 */
async function sharedStoreCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isCustosError(error)) throw error;
    throw new CustosError("store_unavailable", { detail: "the shared rate-limit store cannot answer", cause: error });
  }
}

export class RedisRateLimitStore implements Store {
  private windowMs = 60_000;
  readonly localKeys = false;

  constructor(private readonly redis: RedisCounterClient, readonly prefix: string) {}

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const answer = await sharedStoreCall(() =>
      this.redis.eval(INCREMENT_SCRIPT, { keys: [`custos:rl:${this.prefix}${key}`], arguments: [String(this.windowMs)] }),
    );
    if (!Array.isArray(answer) || typeof answer[0] !== "number" || typeof answer[1] !== "number") {
      throw new Error("the rate-limit counter answer is malformed");
    }
    return { totalHits: answer[0], resetTime: new Date(Date.now() + answer[1]) };
  }

  async decrement(key: string): Promise<void> {
    await sharedStoreCall(() => this.redis.decr(`custos:rl:${this.prefix}${key}`));
  }

  async resetKey(key: string): Promise<void> {
    await sharedStoreCall(() => this.redis.del(`custos:rl:${this.prefix}${key}`));
  }
}
