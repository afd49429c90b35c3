import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { trace } from "@opentelemetry/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHttpApp } from "../../src/http/app.ts";
import { json, respond, step } from "../../src/http/steps.ts";
import { createLogger, type Logger } from "../../src/platform/logging.ts";
import { createMetrics } from "../../src/platform/metrics.ts";
import { createServer } from "node:http";
import { createStages, otlpTracesUrl, startTelemetry, type RecordedSpan, type TelemetryHandle } from "../../src/platform/telemetry.ts";

/** A logger writing JSON lines into an array. */
function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level: "info", destination }), lines };
}

describe("telemetry without an endpoint", () => {
  it("registers nothing: spans do not record and log lines carry no trace ids", async () => {
    expect(await startTelemetry({})).toBeUndefined();
    expect(await startTelemetry({ OTEL_EXPORTER_OTLP_ENDPOINT: "  " })).toBeUndefined();
    const span = trace.getTracer("test").startSpan("nothing");
    expect(span.isRecording()).toBe(false);
    const { logger, lines } = capturingLogger();
    await createStages().run("stage", () => {
      logger.info("inside a stage");
      return Promise.resolve();
    });
    expect(lines[0]).not.toHaveProperty("trace_id");
    expect(lines[0]).not.toHaveProperty("span_id");
  });
});

describe("telemetry with the SDK registered", () => {
  let telemetry: TelemetryHandle;
  let scratch: string;
  let spansFile: string;

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), "custos-telemetry-"));
    spansFile = path.join(scratch, "spans.json");
    const handle = await startTelemetry({ CUSTOS_BENCH_SPANS: spansFile });
    if (handle === undefined) throw new Error("the SDK did not register");
    telemetry = handle;
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it("writes the trace_id and span_id of the active span into a log line, unredacted", () => {
    const { logger, lines } = capturingLogger();
    const span = trace.getTracer("test").startActiveSpan("active", (active) => {
      logger.info("inside a span");
      active.end();
      return active;
    });
    logger.info("outside any span");
    expect(lines[0]).toMatchObject({ trace_id: span.spanContext().traceId, span_id: span.spanContext().spanId });
    expect(lines[0]?.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(lines[1]).not.toHaveProperty("trace_id");
  });

  it("still scrubs a credential logged under the trace_id key", () => {
    const { logger, lines } = capturingLogger();
    logger.info({ trace_id: "q2Jx9vT0aLm3Zp8YwE1RkS7uN4cB6dHf" }, "forged");
    expect(lines[0]?.trace_id).toBe("[redacted]");
  });

  it("names the request's trace in every log line of the request, and times each route step in /metrics", async () => {
    const { logger, lines } = capturingLogger();
    const metrics = createMetrics();
    const stages = createStages(metrics.stageDuration);
    const app = buildHttpApp({
      logger, metrics, readiness: [],
      routes: [{
        method: "get",
        path: "/t",
        handlers: [
          step("checkFirst", async () => {
            await new Promise((resolve) => setImmediate(resolve));
            logger.warn("a step's own line");
          }),
          respond(() => stages.run("inner.stage", () => Promise.resolve({ ok: true })), () => undefined, json(200), "answer"),
        ],
      }],
    });
    const server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    const base = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
    try {
      expect((await fetch(`${base}/t`)).status).toBe(200);
      const stepLine = lines.find((line) => line.msg === "a step's own line");
      const accessLine = lines.find((line) => line.msg === "request" && line.route === "/t");
      expect(stepLine?.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(accessLine?.trace_id).toBe(stepLine?.trace_id);
      const exposition = await (await fetch(`${base}/metrics`)).text();
      for (const stage of ["checkFirst", "answer", "inner.stage"]) {
        expect(exposition).toContain(`custos_stage_duration_seconds_count{stage="${stage}"} 1`);
      }
    } finally {
      server.close();
    }
  });

  it("records spans for the bench and writes them out at shutdown, with numeric attributes", async () => {
    await createStages().run("recorded.stage", (span) => {
      span.setAttribute("custos.authz.batch_size", 3);
      return Promise.resolve();
    });
    await telemetry.shutdown();
    const recorded = JSON.parse(await readFile(spansFile, "utf8")) as RecordedSpan[];
    const span = recorded.find((each) => each.name === "recorded.stage");
    expect(span?.attributes).toEqual({ "custos.authz.batch_size": 3 });
    expect(recorded.map((each) => each.name)).toEqual(expect.arrayContaining(["GET /t", "checkFirst", "answer", "inner.stage"]));
    // Unregistered: the API is a no-op again.
    expect(trace.getTracer("test").startSpan("after").isRecording()).toBe(false);
  });
});

describe("telemetry exported over OTLP", () => {
  it("sends the spans to OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, flushed at shutdown", async () => {
    const received: { path: string; body: string }[] = [];
    const collector = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => { body += chunk.toString(); });
      req.on("end", () => {
        received.push({ path: req.url ?? "", body });
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    collector.listen(0, "127.0.0.1");
    await once(collector, "listening");
    try {
      const endpoint = `http://127.0.0.1:${String((collector.address() as AddressInfo).port)}/`;
      const handle = await startTelemetry({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
      if (handle === undefined) throw new Error("the SDK did not register");
      await createStages().run("exported.stage", () => Promise.resolve());
      await handle.shutdown();
      expect(received.map((request) => request.path)).toContain("/v1/traces");
      expect(received.some((request) => request.body.includes("exported.stage"))).toBe(true);
    } finally {
      collector.close();
    }
  });

  it("takes the traces endpoint as it is, and the base endpoint with /v1/traces appended", () => {
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318//" })).toBe("http://c:4318/v1/traces");
    expect(otlpTracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://t:1/x" })).toBe("http://t:1/x");
    expect(otlpTracesUrl({})).toBeUndefined();
  });
});
