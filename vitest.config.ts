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
          // Finds the local PostgreSQL server when DATABASE_URL is unset, or says it did not.
          globalSetup: ["integration/support/global-setup.ts"],
          environment: "node",
          // Real I/O: PGlite (WASM), the embedded SpiceDB engine (FFI) and child processes
          // are happiest in forked processes rather than worker threads.
          pool: "forks",
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
