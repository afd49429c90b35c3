import { createClient } from "redis";
import { CustosError } from "../errors.ts";
import type { RedisCounterClient } from "./rate-limit-stores.ts";

export interface RedisConnection extends RedisCounterClient {
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The Redis that replicas share rate-limit counters in. Commands are bounded in time and
 * not queued while disconnected: a counter that cannot be read refuses the request (the
 * limiter fails closed) instead of waiting.
 */
export async function connectRedis(url: string): Promise<RedisConnection> {
  let connected = false;
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 2000,
      // At start an unreachable Redis is a configuration error; once up, reconnect patiently.
      reconnectStrategy: (retries, cause) => (connected ? Math.min(retries * 100, 2000) : cause),
    },
  });
  // Errors surface on the commands; an unhandled 'error' event would end the process.
  client.on("error", () => undefined);
  try {
    await client.connect();
    connected = true;
  } catch (cause) {
    throw new CustosError("store_unavailable", { detail: "Redis (REDIS_URL) cannot be reached", cause });
  }
  return {
    eval: (script, options) => client.eval(script, options),
    del: (key) => client.del(key),
    decr: (key) => client.decr(key),
    ping: async () => { await client.ping(); },
    close: async () => { await client.close(); },
  };
}
