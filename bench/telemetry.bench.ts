/**
 * `npm run bench -- telemetry`
 *
 * What the instrumentation costs with OTEL_EXPORTER_OTLP_ENDPOINT unset (the API's no-op
 * tracer): one stage (`Stages.run`: a non-recording span, a context switch that is a plain
 * call, and a histogram observation) against the same async call made bare, and a request's
 * worth of them (the secret read has a request span, 5 route steps and 5 stages). Then the
 * same with the SDK registered and spans recorded in memory, as the secret-read bench runs.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createMetrics } from "../src/platform/metrics.ts";
import { createStages, startTelemetry } from "../src/platform/telemetry.ts";

const ROUNDS = 200_000;
const work = (): Promise<number> => Promise.resolve(1);

async function timeIt(run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 20_000; i += 1) await run();
  const started = performance.now();
  for (let i = 0; i < ROUNDS; i += 1) await run();
  return ((performance.now() - started) * 1e6) / ROUNDS;
}

const stages = createStages(createMetrics().stageDuration);
// Alternated and the best of five kept: the machine's noise only ever adds.
let bare = Number.POSITIVE_INFINITY;
let noop = Number.POSITIVE_INFINITY;
for (let round = 0; round < 5; round += 1) {
  bare = Math.min(bare, await timeIt(work));
  noop = Math.min(noop, await timeIt(() => stages.run("stage", work)));
}
console.log(`telemetry cost, ${String(ROUNDS)} calls each, best of 5`);
console.log(`bare async call          : ${bare.toFixed(0).padStart(6)} ns`);
console.log(`stage, no SDK (no-op)    : ${noop.toFixed(0).padStart(6)} ns  (+${(noop - bare).toFixed(0)} ns; a secret read has 11 spans: +${((11 * (noop - bare)) / 1000).toFixed(1)} µs per read)`);

const scratch = await mkdtemp(path.join(os.tmpdir(), "custos-telemetry-bench-"));
const sdk = await startTelemetry({ CUSTOS_BENCH_SPANS: path.join(scratch, "spans.json") });
let recorded = Number.POSITIVE_INFINITY;
for (let round = 0; round < 5; round += 1) recorded = Math.min(recorded, await timeIt(() => stages.run("stage", work)));
await sdk?.shutdown();
await rm(scratch, { recursive: true, force: true });
console.log(`stage, SDK recording     : ${recorded.toFixed(0).padStart(6)} ns  (+${(recorded - bare).toFixed(0)} ns; 11 spans: +${((11 * (recorded - bare)) / 1000).toFixed(1)} µs per read)`);
