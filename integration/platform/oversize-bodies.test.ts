import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHttpApp, MAX_BODY_BYTES } from "../../src/http/app.ts";
import { createMetrics } from "../../src/platform/metrics.ts";
import { captureLogger } from "../support/logger.ts";
import { serveOnLoopback, type TestServer } from "../support/http.ts";
import { rawExchange } from "./raw-http.ts";

/**
 * Issue 13: a 413 closes the connection instead of reading the whole body. Each test sends
 * less than the body it announces (or never ends a chunked one), so a server that waited for
 * the body before answering, or read it to keep the connection alive, would never answer or
 * never close: the exchange would not complete and the test would fail on its timeout.
 */
describe("oversize request bodies", () => {
  let server: TestServer;

  beforeAll(async () => {
    const app = buildHttpApp({
      logger: captureLogger().logger,
      metrics: createMetrics(),
      readiness: [],
      routes: [{ method: "post", path: "/v1/echo", handlers: [(req, res) => { res.json({ received: req.body as unknown }); }] }],
    });
    server = await serveOnLoopback(app);
  });
  afterAll(async () => {
    await server.close();
  });

  const head = (framing: string) => `POST /v1/echo HTTP/1.1\r\nHost: custos\r\nContent-Type: application/json\r\n${framing}\r\n\r\n`;

  it("answers a declared oversize body 413 and closes the connection without reading a byte of it", { timeout: 15_000 }, async () => {
    const { status, response } = await rawExchange(server.url, head("Content-Length: 104857600"));
    expect(status).toBe(413);
    expect(response.toLowerCase()).toContain("connection: close");
    expect(response).toContain('"code":"payload_too_large"');
  });

  it("answers a chunked body 413 at the cap and closes the connection, though the body never ends", { timeout: 15_000 }, async () => {
    const overCap = Buffer.alloc(MAX_BODY_BYTES + 1024, 0x20);
    const chunk = Buffer.concat([Buffer.from(`${overCap.length.toString(16)}\r\n`), overCap, Buffer.from("\r\n")]);
    // No terminating 0-length chunk: the body is endless as far as the server can tell.
    const { status, response } = await rawExchange(server.url, Buffer.concat([Buffer.from(head("Transfer-Encoding: chunked")), chunk]));
    expect(status).toBe(413);
    expect(response.toLowerCase()).toContain("connection: close");
  });

  it("closes the connection after answering a request whose body it does not read (not JSON), though the body never ends", { timeout: 15_000 }, async () => {
    const chunk = Buffer.from("400\r\n" + "x".repeat(1024) + "\r\n");
    const request = Buffer.concat([Buffer.from("POST /v1/echo HTTP/1.1\r\nHost: custos\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"), chunk]);
    const { status, response } = await rawExchange(server.url, request);
    expect(status).toBe(200);
    expect(response.toLowerCase()).toContain("connection: close");
  });

  it("keeps the connection alive for a bodiless POST (Content-Length: 0), whatever its type", async () => {
    const exchange = await rawExchange(server.url, "POST /v1/echo HTTP/1.1\r\nHost: custos\r\nContent-Length: 0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: custos\r\nConnection: close\r\n\r\n");
    expect(exchange.status).toBe(200);
    expect(exchange.response).toContain('{"status":"ok"}');
  });

  it("keeps the connection alive for a body under the cap", async () => {
    const { hostname, port } = new URL(server.url);
    const socket = net.connect(Number(port), hostname);
    const body = '{"a":1}';
    const request = `POST /v1/echo HTTP/1.1\r\nHost: custos\r\nContent-Type: application/json\r\nContent-Length: ${String(body.length)}\r\n\r\n${body}`;
    const answers = await new Promise<string>((resolve, reject) => {
      let received = "";
      socket.on("error", reject);
      socket.on("data", (chunk: Buffer) => {
        received += chunk.toString("latin1");
        // Two complete answers on one connection: the first did not close it.
        if (received.split('{"received":{"a":1}}').length === 3) resolve(received);
      });
      socket.write(request);
      socket.once("data", () => socket.write(request));
    });
    socket.destroy();
    expect(answers.toLowerCase()).not.toContain("connection: close");
  });

  it.each([
    ["a compressed body", "Content-Encoding: gzip\r\nContent-Length: 2", 415, "unsupported_media_type"],
    ["a latin-1 body", "Content-Length: 2", 415, "unsupported_media_type"],
  ])("refuses %s", async (_label, framing, status, code) => {
    const contentType = _label === "a latin-1 body" ? "application/json; charset=latin1" : "application/json";
    const request = `POST /v1/echo HTTP/1.1\r\nHost: custos\r\nConnection: close\r\nContent-Type: ${contentType}\r\n${framing}\r\n\r\n{}`;
    const exchange = await rawExchange(server.url, request);
    expect(exchange.status).toBe(status);
    expect(exchange.response).toContain(`"code":"${code}"`);
  });

  it("refuses a body that is not UTF-8 with 400 malformed_body", async () => {
    const response = await fetch(`${server.url}/v1/echo`, { method: "POST", headers: { "content-type": "application/json" }, body: Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]) });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "malformed_body" });
  });

  it("refuses a top-level scalar (strict JSON) with 400 malformed_body", async () => {
    const response = await fetch(`${server.url}/v1/echo`, { method: "POST", headers: { "content-type": "application/merge-patch+json" }, body: '"just a string"' });
    expect(response.status).toBe(400);
  });
});
