import { createServer, type RequestListener, type Server } from "node:http";

/**
 * Limits Node's HTTP server applies before any of Custos's code runs. The request line and
 * headers together are bounded (a longer path never reaches the app: 431), and slow or idle
 * clients cannot hold a socket open for long.
 */
export const HTTP_SERVER_LIMITS = {
  /** Bytes of request line plus headers; Node answers 431 beyond it. */
  maxHeaderSize: 16 * 1024,
  maxHeadersCount: 100,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
} as const;

export type HttpServerLimits = { readonly [K in keyof typeof HTTP_SERVER_LIMITS]: number };

/**
 * Node enforces the header and request timeouts only when it sweeps its connections, every
 * 30 s by default: a client sending its headers one byte at a time lived up to 30 s past the
 * bound. Sweeping at a tenth of the header timeout keeps every socket within it.
 */
function sweepIntervalMs(limits: HttpServerLimits): number {
  return Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 10)));
}

export function createHttpServer(listener: RequestListener, limits: HttpServerLimits = HTTP_SERVER_LIMITS): Server {
  const server = createServer(
    { maxHeaderSize: limits.maxHeaderSize, connectionsCheckingInterval: sweepIntervalMs(limits) },
    listener,
  );
  server.maxHeadersCount = limits.maxHeadersCount;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  return server;
}
