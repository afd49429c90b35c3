#!/usr/bin/env node
// Runs the compiled JavaScript under dist/ with plain Node.js: no TypeScript loader in
// production. `npm ci` builds dist/ (the `prepare` step); so does `npm run build`.
//
// `custos serve` gets a bounded V8 heap by default (CUSTOS_MAX_HEAP_MB, 128 MB): Node takes
// the bound only at start-up, so this process starts the server as a child Node process that
// carries it and stands in for it (dist/cli/heap-bound.js). An operator's own bound in
// NODE_OPTIONS or on node's command line wins, and then serve runs here.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const entry = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(entry)) {
  console.error("custos: dist/ has not been built: run `npm run build` (npm ci runs it)");
  process.exit(2);
}
const args = process.argv.slice(2);
if (args[0] === "serve") {
  const { heapBoundToApply, runBounded } = await import(new URL("../dist/cli/heap-bound.js", import.meta.url).href);
  const context = { args, execArgv: process.execArgv, env: process.env };
  let bound;
  try {
    bound = heapBoundToApply(context);
  } catch (error) {
    console.error(`custos: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  }
  if (bound !== undefined) await runBounded(fileURLToPath(import.meta.url), context, bound);
}
await import(entry.href);
