import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { buildHttpApp, MAX_REQUEST_TARGET_CHARS } from "../../src/http/app.ts";
import { createHttpServer } from "../../src/http/server.ts";
import { parseNodeId, parseSecretName } from "../../src/platform/names.ts";
import { createMetrics } from "../../src/platform/metrics.ts";
import { captureLogger, type CapturedLogger } from "../support/logger.ts";
import { rawExchange } from "./raw-http.ts";

/**
 * Issue 1: one unauthenticated request must not stall the server or be answered 500. A
 * malformed percent-escape anywhere in a path is 400 invalid_name; a huge path is refused
 * 4xx, by Node's header limit and, behind any larger one, by the app's own bound.
 */
describe("hostile paths", () => {
  const servers: { url: string; close: () => Promise<void> }[] = [];
  let captured: CapturedLogger;
  let realLimits: string;
  let permissive: string;

  beforeAll(async () => {
    captured = captureLogger();
    const app = buildHttpApp({
      logger: captured.logger,
      metrics: createMetrics(),
      readiness: [],
      routes: [
        {
          method: "get",
          path: "/v1/nodes/:node_id/secrets/:name",
          handlers: [(req, res) => { res.json({ node: parseNodeId(req.params.node_id), name: parseSecretName(req.params.name) }); }],
        },
      ],
    });
    const listen = async (server: ReturnType<typeof createServer>) => {
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
      servers.push({ url, close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { resolve(); }); }) });
      return url;
    };
    realLimits = await listen(createHttpServer(app));
    // A front end with a far larger header limit: the app must hold on its own.
    permissive = await listen(createServer({ maxHeaderSize: 1024 * 1024 }, app));
  });
  afterAll(async () => {
    for (const server of servers) await server.close();
  });

  const get = (base: string, target: string) => rawExchange(base, `GET ${target} HTTP/1.1\r\nHost: custos\r\nConnection: close\r\n\r\n`);
  const problemOf = (response: string) => JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4)) as Record<string, unknown>;

  it.each([
    "/v1/nodes/%ZZ/secrets/x",
    "/v1/nodes/3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b/secrets/%",
    "/v1/nodes/3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b/secrets/a%C0%AF",
    "/v1/nowhere/%E0%A4%A",
    "/healthz%ZZ",
  ])("answers %s with 400 invalid_name as problem+json, never 500", async (target) => {
    const { status, response } = await get(realLimits, target);
    expect(status).toBe(400);
    expect(response.toLowerCase()).toContain("content-type: application/problem+json");
    expect(problemOf(response)).toMatchObject({ code: "invalid_name", status: 400 });
  });

  it("answers a 64 KiB hostile path 4xx with the server's real limits (431 from Node)", async () => {
    const { status } = await get(realLimits, `/v1/nodes/${"eyJ-".repeat(16_384)}/secrets/x`);
    expect(status).toBe(431);
  });

  it.each([
    ["token-like text", `/v1/nodes/${"eyJ-".repeat(16_384)}/secrets/x`],
    ["malformed escapes", `/v1/nodes/${"%ZZ".repeat(21_846)}/secrets/x`],
    ["one long run", `/v1/nodes/x/secrets/${"a".repeat(65_536)}`],
  ])("answers a 64 KiB path of %s 414 uri_too_long even behind a larger header limit", async (_label, target) => {
    const { status, response } = await get(permissive, target);
    expect(status).toBe(414);
    expect(problemOf(response)).toMatchObject({ code: "uri_too_long" });
  });

  it("accepts a path at the bound and refuses one character more", async () => {
    const prefix = "/v1/nodes/x/secrets/";
    const atBound = `${prefix}${"a".repeat(MAX_REQUEST_TARGET_CHARS - prefix.length)}`;
    expect((await get(permissive, atBound)).status).toBe(400); // reaches the route: the node id is refused
    expect((await get(permissive, `${atBound}a`)).status).toBe(414);
  });

  it("logs no raw path: only route templates", () => {
    const logged = captured.lines().join("\n");
    expect(logged).not.toContain("%ZZ");
    expect(logged).not.toContain("eyJ-eyJ");
  });
});
