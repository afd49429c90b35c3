import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHttpApp } from "../../src/http/app.ts";
import { CustosError } from "../../src/platform/errors.ts";
import { createMetrics } from "../../src/platform/metrics.ts";
import { captureLogger, type CapturedLogger } from "../support/logger.ts";
import { serveOnLoopback, type TestServer } from "../support/http.ts";

const PROBLEM = "application/problem+json";

describe("the HTTP edge", () => {
  let server: TestServer;
  let captured: CapturedLogger;
  let databaseUp = true;

  beforeAll(async () => {
    captured = captureLogger();
    const app = buildHttpApp({
      logger: captured.logger,
      metrics: createMetrics(),
      readiness: [{ name: "database", check: () => (databaseUp ? Promise.resolve() : Promise.reject(new Error("down"))) }],
      routes: [
        {
          method: "post",
          path: "/v1/echo",
          handlers: [(req, res) => { res.json({ received: req.body as unknown }); }],
          doc: { summary: "echo" },
        },
        {
          method: "get",
          path: "/v1/explode",
          handlers: [() => { throw new Error("database password is hunter2 at /srv/app.ts:12"); }],
        },
        {
          method: "get",
          path: "/v1/refuse",
          handlers: [() => { throw new CustosError("permission_denied", { detail: "not yours" }); }],
        },
      ],
    });
    server = await serveOnLoopback(app);
  });

  afterAll(async () => {
    await server.close();
  });

  it("answers /healthz with 200 and a request id", async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("answers with its own request id whatever X-Request-Id the client sends", async () => {
    const sane = await fetch(`${server.url}/healthz`, { headers: { "X-Request-Id": "trace-123" } });
    expect(sane.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const unsafe = await fetch(`${server.url}/healthz`, { headers: { "X-Request-Id": `a b;${"x".repeat(200)}` } });
    expect(unsafe.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("sets security headers on every answer", async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(response.headers.get("x-powered-by")).toBeNull();
  });

  it("refuses malformed JSON with 400 malformed_body as problem+json", async () => {
    const response = await fetch(`${server.url}/v1/echo`, { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" });
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toContain(PROBLEM);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 400, code: "malformed_body", type: expect.stringContaining("malformed_body") as unknown });
    expect(body.request_id).toBe(response.headers.get("x-request-id"));
  });

  it("refuses a 70 KiB body with 413 payload_too_large", async () => {
    const body = JSON.stringify({ blob: "x".repeat(70 * 1024) });
    const response = await fetch(`${server.url}/v1/echo`, { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: "payload_too_large" });
  });

  it("refuses a 70 KiB chunked body (no Content-Length) with 413 while reading it", async () => {
    const chunk = new TextEncoder().encode("x".repeat(1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode('{"blob":"'));
        if (sent >= 70) { controller.enqueue(new TextEncoder().encode('"}')); controller.close(); return; }
        controller.enqueue(chunk);
        sent += 1;
      },
    });
    const response = await fetch(`${server.url}/v1/echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: stream,
      duplex: "half",
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: "payload_too_large" });
  });

  it("accepts a body under the cap", async () => {
    const response = await fetch(`${server.url}/v1/echo`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"a":1}' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: { a: 1 } });
  });

  it("answers an unknown path with 404 not_found as problem+json", async () => {
    const response = await fetch(`${server.url}/v1/nowhere`);
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toContain(PROBLEM);
    expect(await response.json()).toMatchObject({ code: "not_found", status: 404 });
    expect(response.headers.get("x-request-id")).not.toBeNull();
  });

  it("answers a wrong method with 405 and an Allow header", async () => {
    const response = await fetch(`${server.url}/healthz`, { method: "DELETE" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, HEAD");
    expect(await response.json()).toMatchObject({ code: "method_not_allowed" });
  });

  it("maps a typed refusal to its status and code", async () => {
    const response = await fetch(`${server.url}/v1/refuse`);
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "permission_denied", detail: "not yours" });
  });

  it("answers an unexpected error with 500 internal and nothing but the request id", async () => {
    const response = await fetch(`${server.url}/v1/explode`);
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain(".ts");
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["code", "request_id", "status", "title", "type"]);
    expect(body.request_id).toBe(response.headers.get("x-request-id"));
    expect(captured.lines().some((line) => line.includes("unexpected error") && line.includes(String(body.request_id)))).toBe(true);
  });

  it("reports readiness from its probes", async () => {
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ready", checks: { database: "ok" } });
    databaseUp = false;
    const down = await fetch(`${server.url}/readyz`);
    databaseUp = true;
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ status: "unavailable", checks: { database: "unavailable" } });
  });

  it("exposes Prometheus metrics with bounded route labels", async () => {
    await fetch(`${server.url}/healthz`);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/custos_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    expect(text).toContain('route="unmatched"');
  });

  it("publishes an OpenAPI 3.1 document built from the mounted routes", async () => {
    const document = (await (await fetch(`${server.url}/v1/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(document.openapi).toBe("3.1.0");
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(["/healthz", "/readyz", "/metrics", "/v1/echo"]));
  });

  it("never writes an authorization header into the logs", async () => {
    const token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
    await fetch(`${server.url}/v1/nowhere`, { headers: { authorization: `Bearer ${token}` } });
    expect(captured.lines().join("\n")).not.toContain(token);
  });
});
