import { MemoryStore, type ClientRateLimitInfo, type Options, type Store } from "express-rate-limit";
import type { Database } from "../platform/db/database.ts";

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

export function rateLimitStoreFactory(kind: "memory" | "postgres", db: Database): RateLimitStoreFactory {
  return kind === "postgres" ? (prefix) => new PostgresRateLimitStore(db, prefix) : () => new MemoryStore();
}
