/**
 * Shared by the drills: a closed-loop load of secret reads over several replicas, and how to
 * print what it measured. Each of `connections` workers sends one request at a time, taking
 * the replicas in turn, until the duration is over; a request in flight then still finishes,
 * so every answer is counted and the 200s can be compared exactly with the audit records.
 * A replica that does not answer at all (status 0: refused, reset, timed out) is taken out of
 * the rotation, as a load balancer's health check would, and the failure is counted.
 */
import type { ServeProcess } from "../integration/support/serve-process.ts";

export interface Sample {
  readonly replica: number;
  readonly status: number;
  /** ms since the load started, when the answer came. */
  readonly at: number;
  readonly latencyMs: number;
}

export interface LoadResult {
  readonly samples: Sample[];
  readonly seconds: number;
}

export interface LoadOptions {
  readonly replicas: readonly ServeProcess[];
  readonly read: (replica: ServeProcess) => Promise<number>;
  readonly connections: number;
  readonly seconds: number;
  /** Called once, this many ms after the start (e.g. to kill a replica). */
  readonly at?: { readonly ms: number; readonly run: () => void };
}

/** A whole-number setting of a drill from the environment, or the fallback; exits 2 naming it when out of range. */
export function drillSetting(variable: string, setting: { readonly fallback: number; readonly min: number; readonly max: number; readonly unit: string }): number {
  const raw = process.env[variable];
  if (raw === undefined || raw === "") return setting.fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < setting.min || value > setting.max) {
    process.stderr.write(`${variable} must be a whole number of ${setting.unit} from ${String(setting.min)} to ${String(setting.max)} (got ${JSON.stringify(raw)})\n`);
    process.exit(2);
  }
  return value;
}

export function drillSeconds(fallback = 30): number {
  return drillSetting("DRILL_SECONDS", { fallback, min: 1, max: 3600, unit: "seconds" });
}

/** How long a drill's fault lasts, and when it starts: the drill must outlast it. */
export interface FaultWindow {
  readonly drill: string;
  /** The environment variable that sets the fault's length in seconds. */
  readonly variable: string;
  readonly fallback: number;
  readonly max: number;
  /** What the fault is called in the message: "the hold", "the outage". */
  readonly what: string;
  readonly startsAtMs: number;
  /** How long the drill must go on after the fault ends. */
  readonly afterMs: number;
}

/** The fault's length in seconds; exits 2 naming the setting when it is not whole, in range, and inside DRILL_SECONDS. */
export function faultSeconds(window: FaultWindow, drill: number): number {
  const raw = process.env[window.variable];
  const seconds = Number(raw ?? String(window.fallback));
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > window.max || drill * 1000 < window.startsAtMs + seconds * 1000 + window.afterMs) {
    const margin = String((window.startsAtMs + window.afterMs) / 1000);
    process.stderr.write(
      `${window.drill} drill: ${window.variable} must be whole seconds from 1 to ${String(window.max)}, and DRILL_SECONDS at least ${window.what} + ${margin} (got ${String(raw)} and ${String(drill)})\n`,
    );
    process.exit(2);
  }
  return seconds;
}

export function requireDatabaseUrl(drill: string): void {
  if (process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === "") {
    process.stderr.write(`${drill} drill: set DATABASE_URL to a PostgreSQL server (replicas share one; each run creates and drops its own database)\n`);
    process.exit(2);
  }
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  const down = new Set<number>();
  const samples: Sample[] = [];
  let turn = 0;
  const timer = options.at === undefined ? undefined : setTimeout(options.at.run, options.at.ms);
  await Promise.all(Array.from({ length: options.connections }, async () => {
    while (performance.now() < deadline) {
      const live = options.replicas.map((_, index) => index).filter((index) => !down.has(index));
      const replica = live[turn % live.length];
      turn += 1;
      const target = replica === undefined ? undefined : options.replicas[replica];
      if (replica === undefined || target === undefined) return;
      const sent = performance.now();
      const status = await options.read(target);
      const now = performance.now();
      samples.push({ replica, status, at: now - started, latencyMs: now - sent });
      if (status === 0) down.add(replica);
    }
  }));
  clearTimeout(timer);
  return { samples, seconds: (performance.now() - started) / 1000 };
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

/** reads/s, p50/p99 of the successful reads, and the count of each status. */
export function summarise(samples: readonly Sample[], seconds: number): { ok: number; rate: number; p50: number; p99: number; statuses: Record<string, number> } {
  const ok = samples.filter((sample) => sample.status === 200);
  const latencies = ok.map((sample) => sample.latencyMs).sort((x, y) => x - y);
  const statuses: Record<string, number> = {};
  for (const sample of samples) statuses[String(sample.status)] = (statuses[String(sample.status)] ?? 0) + 1;
  return { ok: ok.length, rate: ok.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), statuses };
}

export function line(text: string): void {
  process.stdout.write(`${text}\n`);
}

export function describeSummary(label: string, summary: ReturnType<typeof summarise>): string {
  return `${label.padEnd(22)}: ${summary.rate.toFixed(0).padStart(6)} reads/s  p50 ${summary.p50.toFixed(1)} ms  p99 ${summary.p99.toFixed(1)} ms  statuses ${JSON.stringify(summary.statuses)}`;
}
