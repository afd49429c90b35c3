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

export function createHttpServer(listener: RequestListener): Server {
  const server = createServer({ maxHeaderSize: HTTP_SERVER_LIMITS.maxHeaderSize }, listener);
  server.maxHeadersCount = HTTP_SERVER_LIMITS.maxHeadersCount;
  server.headersTimeout = HTTP_SERVER_LIMITS.headersTimeoutMs;
  server.requestTimeout = HTTP_SERVER_LIMITS.requestTimeoutMs;
  server.keepAliveTimeout = HTTP_SERVER_LIMITS.keepAliveTimeoutMs;
  return server;
}
