import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
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
          // The CLI tests run the compiled dist/: rebuild it from src/ first. Then find the
          // local PostgreSQL server when DATABASE_URL is unset, or say that it was not run.
          globalSetup: ["integration/support/build-dist.ts", "integration/support/find-postgres.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
