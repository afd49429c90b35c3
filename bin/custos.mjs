#!/usr/bin/env node
// Runs the compiled JavaScript under dist/ with plain Node.js: no TypeScript loader in
// production. `npm ci` builds dist/ (the `prepare` step); so does `npm run build`.
import { existsSync } from "node:fs";

const entry = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(entry)) {
  console.error("custos: dist/ has not been built: run `npm run build` (npm ci runs it)");
  process.exit(2);
}
await import(entry.href);
