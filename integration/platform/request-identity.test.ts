import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditAppender, AuditEventInput } from "../../src/audit/audit-port.ts";
import { createDenialRecorder } from "../../src/audit/denial-recorder.ts";
import { buildHttpApp } from "../../src/http/app.ts";
import { requireOperator } from "../../src/http/authenticate-steps.ts";
import { createMetrics } from "../../src/platform/metrics.ts";
import { captureLogger, type CapturedLogger } from "../support/logger.ts";
import { serveOnLoopback, type TestServer } from "../support/http.ts";
import { rawExchange } from "./raw-http.ts";

const OPERATOR_TOKEN = "Jq3vX9s0bLr2Mz7Kp4Wt8Yc1Nd6Hf5Ge0Ua9Si3Ox2E";
const SERVER_REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Issue 11 (who names a request) and issue 16 (the Bearer scheme), on the operator token. */
describe("request ids and the operator record", () => {
  let server: TestServer;
  let captured: CapturedLogger;
  const recorded: AuditEventInput[] = [];
  const audit: AuditAppender = {
    append(event) {
      recorded.push(event);
      return Promise.resolve({ chain: event.chain, seq: recorded.length, hash: "0".repeat(64) });
    },
  };

  beforeAll(async () => {
    captured = captureLogger();
    const app = buildHttpApp({
      logger: captured.logger,
      metrics: createMetrics(),
      readiness: [],
      routes: [
        {
          method: "get",
          path: "/v1/things/:thing",
          handlers: [requireOperator({ operatorToken: OPERATOR_TOKEN, audit, denials: createDenialRecorder(audit) }), (_req, res) => { res.json({ ok: true }); }],
        },
      ],
    });
    server = await serveOnLoopback(app);
  });
  afterAll(async () => {
    await server.close();
  });

  const callOperator = (path: string, headers: Record<string, string>) => fetch(`${server.url}${path}`, { headers });

  it("makes every request id itself: a client's X-Request-Id is never the request id", async () => {
    const response = await callOperator("/v1/things/one", { authorization: `Bearer ${OPERATOR_TOKEN}`, "x-request-id": "dev-seed" });
    expect(response.status).toBe(200);
    const id = response.headers.get("x-request-id");
    expect(id).toMatch(SERVER_REQUEST_ID);
    const record = recorded.at(-1);
    expect(record?.requestId).toBe(id);
    expect(record?.requestId).not.toBe("dev-seed");
  });

  it("keeps a sane client X-Request-Id apart, as client_request_id in the record and the access log", async () => {
    const response = await callOperator("/v1/things/two", { authorization: `Bearer ${OPERATOR_TOKEN}`, "x-request-id": "trace-123" });
    expect(recorded.at(-1)?.details).toEqual({ client_request_id: "trace-123" });
    const id = response.headers.get("x-request-id") ?? "";
    const logged = captured.lines().map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.msg === "request" && line.request_id === id);
    expect(logged).toMatchObject({ client_request_id: "trace-123" });
  });

  it.each([`a b;${"x".repeat(10)}`, "x".repeat(65), "\u00fcn\u00efcode", "<script>", "trace/../../x"])(
    "drops a client X-Request-Id outside the bound (%j)",
    async (clientId) => {
      // Raw bytes (latin-1), so that every value reaches the server as written.
      const request = `GET /v1/things/three HTTP/1.1\r\nHost: custos\r\nConnection: close\r\nAuthorization: Bearer ${OPERATOR_TOKEN}\r\nX-Request-Id: ${clientId}\r\n\r\n`;
      const { status } = await rawExchange(server.url, Buffer.from(request, "latin1"));
      expect(status).toBe(200);
      expect(recorded.at(-1)?.details).toEqual({});
    },
  );

  it("records the route template, never the raw path", async () => {
    await callOperator("/v1/things/%3Cscript%3E-raw-client-text", { authorization: `Bearer ${OPERATOR_TOKEN}` });
    expect(recorded.at(-1)).toMatchObject({ resource: "GET /v1/things/:thing", decision: "granted" });
    expect(JSON.stringify(recorded)).not.toContain("raw-client-text");
  });

  it.each(["bearer", "BEARER", "Bearer", "bEaReR"])("accepts the operator token under the scheme %s", async (scheme) => {
    const response = await callOperator("/v1/things/four", { authorization: `${scheme} ${OPERATOR_TOKEN}` });
    expect(response.status).toBe(200);
    expect(recorded.at(-1)).toMatchObject({ decision: "granted", reason: "ok" });
  });
});
