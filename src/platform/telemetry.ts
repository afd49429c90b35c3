import { writeFile } from "node:fs/promises";
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from "@opentelemetry/api";

/**
 * Tracing (DESIGN.md, "Performance and telemetry"). The code speaks only to
 * `@opentelemetry/api`: without an SDK registered (OTEL_EXPORTER_OTLP_ENDPOINT unset) every
 * tracer is the API's no-op one, spans are non-recording and contexts are never stored, so a
 * stage costs a few object allocations. `startTelemetry` registers the Node SDK, from the
 * composition root only.
 */
let tracer = trace.getTracer("custos");

/** What a stage's duration is observed in: prom-client's histogram, by stage name. */
export interface StageHistogram {
  labels(labels: { stage: string }): { observe(seconds: number): void };
}

/**
 * Stages of a request: each runs in a child span of the active span and its duration goes to
 * the stage histogram (`custos_stage_duration_seconds`). Names are fixed in code, never taken
 * from a request, so the histogram's label stays bounded.
 */
export interface Stages {
  run<T>(name: string, work: (span: Span) => Promise<T>, attributes?: Attributes): Promise<T>;
  /** The histogram itself, for durations measured outside `run` (route steps). */
  observe(name: string, seconds: number): void;
}

export function createStages(histogram?: StageHistogram): Stages {
  // One child per stage name, looked up once: prom-client hashes the labels on every call otherwise.
  const children = new Map<string, { observe(seconds: number): void }>();
  const observe = (name: string, seconds: number) => {
    if (histogram === undefined) return;
    let child = children.get(name);
    if (child === undefined) {
      child = histogram.labels({ stage: name });
      children.set(name, child);
    }
    child.observe(seconds);
  };
  return {
    observe,
    async run(name, work, attributes) {
      const started = performance.now();
      const span = tracer.startSpan(name, attributes === undefined ? undefined : { attributes });
      try {
        // A non-recording span (no SDK) is nobody's parent: no context to make or enter.
        return await (span.isRecording() ? context.with(trace.setSpan(context.active(), span), () => work(span)) : work(span));
      } catch (error) {
        failSpan(span, error);
        throw error;
      } finally {
        span.end();
        observe(name, (performance.now() - started) / 1000);
      }
    },
  };
}

/** Spans without a histogram: for verbs wired without metrics (tests with in-memory ports). */
export const spanOnlyStages: Stages = createStages();

/** Marks the span failed, with the error's name only: messages may carry what logs must not. */
export function failSpan(span: Span, error: unknown): void {
  const name = error instanceof Error ? error.name : typeof error;
  const code = (error as { code?: unknown } | null)?.code;
  span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === "string" ? code : name });
}

/** A request's span: a root (an incoming traceparent is not believed, as an X-Request-Id is not). */
export function startRequestSpan(method: string): { span: Span; context: Context } {
  const span = tracer.startSpan(`${method} request`, { kind: SpanKind.SERVER, attributes: { "http.request.method": method } }, ROOT_CONTEXT);
  return { span, context: trace.setSpan(ROOT_CONTEXT, span) };
}

/** A step of a route, as a child of the active span (the request's); no context when it does not record. */
export function startStepSpan(name: string): { span: Span; context: Context | undefined } {
  const parent = context.active();
  const span = tracer.startSpan(name, undefined, parent);
  return { span, context: span.isRecording() ? trace.setSpan(parent, span) : undefined };
}

/** The active span, if one records: what to annotate with a batch size. */
export function activeSpan(): Span | undefined {
  const span = trace.getActiveSpan();
  return span?.isRecording() === true ? span : undefined;
}

export interface TraceFields {
  readonly trace_id?: string;
  readonly span_id?: string;
}

/** trace_id and span_id of the span, or of the active span; nothing when there is none. */
export function traceFields(span: Span | undefined = trace.getActiveSpan()): TraceFields {
  if (span === undefined) return {};
  const { traceId, spanId } = span.spanContext();
  if (!trace.isSpanContextValid(span.spanContext())) return {};
  return { trace_id: traceId, span_id: spanId };
}

// ---------------------------------------------------------------------------------------------
// The SDK: registered by the composition root when a destination is configured.

export interface TelemetryEnvironment {
  /** The OTLP/HTTP collector (`http://collector:4318`); its exporter reads the other OTEL_* settings. */
  readonly OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined;
  readonly OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined;
  /** Benchmarks only: record spans in memory and write them to this file at shutdown. */
  readonly CUSTOS_BENCH_SPANS?: string | undefined;
}

export interface TelemetryHandle {
  /** Flushes what is pending and unregisters the SDK. */
  shutdown(): Promise<void>;
}

/** A span as the bench recorder writes it: epoch milliseconds, duration, numeric and boolean attributes. */
export interface RecordedSpan {
  readonly name: string;
  readonly start: number;
  readonly ms: number;
  readonly attributes: Readonly<Record<string, number | boolean>>;
}

/** Spans the bench recorder keeps at most (about 100 MB): past it, the newest are dropped. */
const MAX_RECORDED_SPANS = 1_000_000;

let registered = false;

/**
 * Registers the Node trace SDK when OTEL_EXPORTER_OTLP_ENDPOINT (or the traces endpoint) or
 * CUSTOS_BENCH_SPANS is set; otherwise nothing is loaded and the API stays a no-op. Once per
 * process: a second Custos in the same process shares the first one's provider.
 */
export async function startTelemetry(env: TelemetryEnvironment): Promise<TelemetryHandle | undefined> {
  const otlp = otlpTracesUrl(env);
  const benchFile = nonEmpty(env.CUSTOS_BENCH_SPANS);
  if ((otlp === undefined && benchFile === undefined) || registered) return undefined;
  registered = true;
  const [{ NodeTracerProvider, BatchSpanProcessor }, { resourceFromAttributes }, { ATTR_SERVICE_NAME }] = await Promise.all([
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/semantic-conventions"),
  ]);
  type Processor = NonNullable<ConstructorParameters<typeof NodeTracerProvider>[0]>["spanProcessors"] extends (infer P)[] | undefined ? P : never;
  const processors: Processor[] = [];
  if (otlp !== undefined) {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
    // The URL from the environment given (the exporter would read process.env); headers,
    // timeout and compression from the standard OTEL_EXPORTER_OTLP_* variables.
    processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: otlp })));
  }
  const recorded: RecordedSpan[] = [];
  if (benchFile !== undefined) {
    processors.push({
      onStart: () => undefined,
      onEnd: (span) => {
        if (recorded.length >= MAX_RECORDED_SPANS) return;
        const attributes: Record<string, number | boolean> = {};
        for (const [key, value] of Object.entries(span.attributes)) if (typeof value === "number" || typeof value === "boolean") attributes[key] = value;
        recorded.push({
          name: span.name,
          start: span.startTime[0] * 1000 + span.startTime[1] / 1e6,
          ms: span.duration[0] * 1000 + span.duration[1] / 1e6,
          attributes,
        });
      },
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    });
  }
  const provider = new NodeTracerProvider({ resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: "custos" }), spanProcessors: processors });
  provider.register();
  tracer = trace.getTracer("custos");
  return {
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
      // disable() replaced the global proxy provider: a tracer taken from the old one would
      // never see a provider registered later in this process.
      tracer = trace.getTracer("custos");
      registered = false;
      if (benchFile !== undefined) await writeFile(benchFile, JSON.stringify(recorded));
    },
  };
}

/** The traces URL: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, or the base endpoint + `/v1/traces`. */
export function otlpTracesUrl(env: TelemetryEnvironment): string | undefined {
  const traces = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  if (traces !== undefined) return traces.trim();
  const base = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT)?.trim();
  if (base === undefined) return undefined;
  let end = base.length;
  while (end > 0 && base.charCodeAt(end - 1) === 0x2f) end -= 1;
  return `${base.slice(0, end)}/v1/traces`;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}
