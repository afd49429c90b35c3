import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHttpApp } from "../../src/http/app.ts";
import { createHttpServer, HTTP_SERVER_LIMITS } from "../../src/http/server.ts";
import { createMetrics } from "../../src/platform/metrics.ts";
import { captureLogger, type CapturedLogger } from "../support/logger.ts";

/** Requests that never finish are logged; clients that never finish their headers are cut off. */
describe("slow and abandoned requests", () => {
  let server: Server;
  let port: number;
  let captured: CapturedLogger;

  beforeAll(async () => {
    captured = captureLogger();
    const app = buildHttpApp({
      logger: captured.logger,
      metrics: createMetrics(),
      readiness: [],
      routes: [{ method: "get", path: "/v1/hangs", handlers: [() => { /* never answers, like a request behind a hung store */ }] }],
    });
    // A short header timeout, so the test waits a moment instead of Node's 30 s sweep.
    server = createHttpServer(app, { ...HTTP_SERVER_LIMITS, headersTimeoutMs: 300 });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    ({ port } = server.address() as AddressInfo);
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("logs a request whose client went away before it was answered, marked abandoned", async () => {
    const controller = new AbortController();
    const pending = fetch(`http://127.0.0.1:${String(port)}/v1/hangs`, { signal: controller.signal }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));
    controller.abort();
    await pending;
    let line: Record<string, unknown> | undefined;
    for (let attempt = 0; attempt < 50 && line === undefined; attempt += 1) {
      line = captured.lines().map((text) => JSON.parse(text) as Record<string, unknown>).find((entry) => entry.msg === "request" && entry.route === "/v1/hangs");
      if (line === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(line).toMatchObject({ route: "/v1/hangs", abandoned: true, method: "GET" });
    expect(line).not.toHaveProperty("status");
  });

  it("closes a connection whose headers never finish well before Node's 30 s sweep", async () => {
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => { resolve(); }));
    socket.write("GET /healthz HTTP/1.1\r\nHost: custos\r\nX-Slow: ");
    // Bounded wait: a server sweeping every 30 s would leave this socket open far longer.
    const closed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { resolve(false); }, 10_000);
      socket.once("close", () => { clearTimeout(timer); resolve(true); });
      socket.on("data", () => undefined);
      socket.on("error", () => undefined);
    });
    socket.destroy();
    expect(closed).toBe(true);
  });
});
