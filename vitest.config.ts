import { defineConfig } from "vitest/config";
import { TEST_NODE_FLAGS } from "./integration/support/node-flags.ts";

/**
 * Test files in parallel: vitest's default is one worker per core but one, a single worker on
 * a 2-core machine, while most integration files spend their time waiting (on child
 * processes, sockets, the SpiceDB engine, timers) rather than computing.
 * CUSTOS_TEST_WORKERS overrides it.
 */
const workers = Number.parseInt(process.env.CUSTOS_TEST_WORKERS ?? "3", 10);

export default defineConfig({
  test: {
    maxWorkers: Number.isSafeInteger(workers) && workers > 0 ? workers : 3,
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          include: ["integration/**/*.test.ts"],
          environment: "node",
          // Real I/O: PGlite (WASM), the embedded SpiceDB engine (FFI) and child processes
          // are happiest in forked processes rather than worker threads.
          pool: "forks",
          // PGlite is a large WebAssembly module: V8's optimising tier recompiles it in the
          // background of every process that loads it, about 1.7 s of CPU that a short-lived
          // test process never earns back (PGlite's queries run about 15% slower on the
          // baseline tier). On two cores that CPU is the suite's bottleneck. Test processes
          // only; the CLI's children get the same flag from integration/support/cli.ts.
          execArgv: TEST_NODE_FLAGS,
          // The CLI tests run the compiled dist/: rebuild it from src/ first. Then find the
          // local PostgreSQL server when DATABASE_URL is unset, or say that it was not run.
          // PGlite stores start from one data directory initialised once per run.
          // NATS_TEST_URL is set when a NATS server answers (the JetStream tests skip otherwise).
          globalSetup: ["integration/support/build-dist.ts", "integration/support/find-postgres.ts", "integration/support/pglite-template.ts", "integration/support/find-nats.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
