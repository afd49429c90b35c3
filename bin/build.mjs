#!/usr/bin/env node
// Compiles src/ to dist/ with tsc (tsconfig.build.json), so that Custos runs as plain
// JavaScript with no TypeScript loader. `npm ci` runs this as the `prepare` step;
// `--clean` starts from an empty dist/ so that no output of a deleted source survives.
//
// A production install (`npm ci --omit=dev`) has no TypeScript: it cannot build, and keeps a
// dist/ built before it (build with dev dependencies, then `npm prune --omit=dev`).
import { existsSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const distEntry = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));

function resolveTsc() {
  try {
    return createRequire(import.meta.url).resolve("typescript/bin/tsc");
  } catch {
    return undefined;
  }
}

const tsc = resolveTsc();
if (tsc === undefined) {
  if (existsSync(distEntry)) {
    console.error("custos build: TypeScript is not installed (production install): keeping the existing dist/");
    process.exit(0);
  }
  console.error(
    "custos build: TypeScript is not installed and dist/ does not exist: install with dev dependencies (npm ci), " +
      "then prune them after the build (npm prune --omit=dev)",
  );
  process.exit(1);
}
if (process.argv.includes("--clean")) rmSync(new URL("../dist", import.meta.url), { recursive: true, force: true });
// The server, then the console's browser modules (their own project: DOM types, no Node).
for (const project of ["tsconfig.build.json", "src/console/browser/tsconfig.json"]) {
  const result = spawnSync(process.execPath, [tsc, "-p", project], { cwd: root, stdio: "inherit" });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
