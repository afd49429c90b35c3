/**
 * Node flags for the suite's own processes (vitest's forks and the `custos` children tests
 * spawn): the baseline WebAssembly tier only, so that loading PGlite does not cost every
 * short-lived process a background recompilation (see vitest.config.ts).
 */
export const TEST_NODE_FLAGS: string[] = ["--liftoff-only"];
