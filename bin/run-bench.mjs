#!/usr/bin/env node
// `npm run bench -- <name>` runs bench/<name>.bench.ts; with no name it lists them.
// Benchmarks print ratios against a baseline measured in the same run (secret-read: the
// server, the baseline and the load generator each in their own process).
import { readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

const benchDir = fileURLToPath(new URL("../bench", import.meta.url));
const available = readdirSync(benchDir)
  .filter((file) => file.endsWith(".bench.ts"))
  .map((file) => file.replace(/\.bench\.ts$/, ""));
const [name, ...rest] = process.argv.slice(2);
if (name === undefined || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join("|")}> [options]`);
  process.exit(name === undefined ? 0 : 2);
}
const result = spawnSync(process.execPath, ["--import", "tsx", path.join(benchDir, `${name}.bench.ts`), ...rest], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
