#!/usr/bin/env node
// `npm run drill -- <name>` runs drills/<name>.drill.ts; with no name it lists them.
// Drills run several `custos serve` processes (the compiled dist/, brought up to date first)
// against a PostgreSQL server (DATABASE_URL) under load, break something, and print figures.
import { readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

const drillDir = fileURLToPath(new URL("../drills", import.meta.url));
const available = readdirSync(drillDir)
  .filter((file) => file.endsWith(".drill.ts"))
  .map((file) => file.replace(/\.drill\.ts$/, ""));
const [name, ...rest] = process.argv.slice(2);
if (name === undefined || !available.includes(name)) {
  console.error(`usage: DATABASE_URL=postgres://… [DRILL_SECONDS=30] npm run drill -- <${available.join("|")}>`);
  process.exit(name === undefined ? 0 : 2);
}
const build = spawnSync(process.execPath, [fileURLToPath(new URL("./build.mjs", import.meta.url))], { stdio: "inherit" });
if (build.status !== 0) process.exit(build.status ?? 1);
const result = spawnSync(process.execPath, ["--import", "tsx", path.join(drillDir, `${name}.drill.ts`), ...rest], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
