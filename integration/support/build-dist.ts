import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Vitest global setup for the integration project: the CLI tests run bin/custos.mjs, which
 * runs the compiled dist/ (what production runs). Bring dist/ up to date with src/ first
 * (an incremental tsc build, a few seconds when nothing changed), so that no test ever
 * exercises a stale build of sources edited since `npm ci`.
 */
export default function buildDist(): void {
  const result = spawnSync(process.execPath, [path.join(REPO_ROOT, "bin", "build.mjs")], { cwd: REPO_ROOT, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`building dist/ for the CLI tests failed:\n${result.stdout}${result.stderr}`);
}
