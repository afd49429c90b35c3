import { getHeapStatistics } from "node:v8";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** One registry per running instance, so that tests can build many apps in one process. */
export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<"method" | "route" | "status">;
  readonly httpDuration: Histogram<"method" | "route">;
  readonly auditRecords: Counter;
  readonly auditBatchSize: Histogram;
  readonly auditBatches: Counter<"path">;
  readonly auditBatchFailures: Counter;
  /** Each stage of a request (route steps, the read path's stages, elevated actions), by name. */
  readonly stageDuration: Histogram<"stage">;
  /** The latest checkpoint of each chain, as the audit schedule last read it (seq, and age at scrape time). */
  readonly auditCheckpoints: LatestCheckpointGauges;
  readonly auditScheduleFailures: Counter<"job">;
  /** Signed event envelopes published to the bus, by type. */
  readonly eventsPublished: Counter<"type">;
  /** Event batches that did not go out after their change committed (audit refused, bus down), by type. */
  readonly eventPublishFailures: Counter<"type">;
}

export interface LatestCheckpoint {
  readonly chain: string;
  readonly seq: number;
  /** Epoch milliseconds. */
  readonly signedAtMs: number;
}

export interface LatestCheckpointGauges {
  /** Replaces what is shown; `nowMs` is the clock the age is measured with at each scrape. */
  show(latest: readonly LatestCheckpoint[], nowMs: () => number): void;
}

function latestCheckpointGauges(registry: Registry): LatestCheckpointGauges {
  let latest: readonly LatestCheckpoint[] = [];
  let nowMs = (): number => Date.now();
  new Gauge({
    name: "custos_audit_checkpoint_seq",
    help: "The seq of each chain's latest signed checkpoint",
    labelNames: ["chain"],
    registers: [registry],
    collect() {
      this.reset();
      for (const checkpoint of latest) this.set({ chain: checkpoint.chain }, checkpoint.seq);
    },
  });
  new Gauge({
    name: "custos_audit_checkpoint_age_seconds",
    help: "Seconds since each chain's latest checkpoint was signed",
    labelNames: ["chain"],
    registers: [registry],
    collect() {
      this.reset();
      const now = nowMs();
      for (const checkpoint of latest) this.set({ chain: checkpoint.chain }, Math.max(0, (now - checkpoint.signedAtMs) / 1000));
    },
  });
  return {
    show(next, clock) {
      latest = next;
      nowMs = clock;
    },
  };
}

/**
 * The V8 heap's limit, which prom-client's default metrics leave out: the bound `custos serve`
 * runs under (CUSTOS_MAX_HEAP_MB, or the operator's --max-old-space-size), so that heap use can
 * be watched against it.
 */
function heapLimitGauge(registry: Registry): void {
  new Gauge({
    name: "custos_nodejs_heap_size_limit_bytes",
    help: "The V8 heap's size limit (old generation bound plus young generation), in bytes",
    registers: [registry],
    collect() {
      this.set(getHeapStatistics().heap_size_limit);
    },
  });
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "custos_" });
  heapLimitGauge(registry);
  return {
    registry,
    httpRequests: new Counter({
      name: "custos_http_requests_total",
      help: "HTTP requests answered, by method, route and status",
      labelNames: ["method", "route", "status"],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: "custos_http_request_duration_seconds",
      help: "HTTP request duration, by method and route",
      labelNames: ["method", "route"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    auditRecords: new Counter({
      name: "custos_audit_records_total",
      help: "Audit records durably committed",
      registers: [registry],
    }),
    auditBatchSize: new Histogram({
      name: "custos_audit_batch_size",
      help: "Audit records committed per transaction (group commit)",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
      registers: [registry],
    }),
    auditBatches: new Counter({
      name: "custos_audit_batches_total",
      help: "Audit transactions committed, by the way they went in: known_head (one round trip), fresh_head (another writer appends to the chain too), locked (the head had moved: under the chain's lock), recovered",
      labelNames: ["path"],
      registers: [registry],
    }),
    auditBatchFailures: new Counter({
      name: "custos_audit_batch_failures_total",
      help: "Audit transactions that failed; every caller in them was refused",
      registers: [registry],
    }),
    auditCheckpoints: latestCheckpointGauges(registry),
    auditScheduleFailures: new Counter({
      name: "custos_audit_schedule_failures_total",
      help: "Scheduled audit jobs (checkpoint, witness, mirror) that failed; each is tried again at the next tick",
      labelNames: ["job"],
      registers: [registry],
    }),
    eventsPublished: new Counter({
      name: "custos_events_published_total",
      help: "Signed event envelopes published to the bus, by type",
      labelNames: ["type"],
      registers: [registry],
    }),
    eventPublishFailures: new Counter({
      name: "custos_event_publish_failures_total",
      help: "Event batches not published after the change they announce committed (logged; agents full-sync on reconnect), by type",
      labelNames: ["type"],
      registers: [registry],
    }),
    stageDuration: new Histogram({
      name: "custos_stage_duration_seconds",
      help: "Duration of each stage of a request (route steps, read-path stages, elevated actions), by stage",
      labelNames: ["stage"],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
  };
}
