#!/usr/bin/env node
// The import picture of src/: each capability's share of the lines, and every import that
// runs upward against the layering in docs/design.md. No dependencies: a regex on `from "…"`.
//
//   node bin/import-picture.mjs [root]     (root defaults to the current directory)
//
// Layers, lowest first; a file may import its own layer or any lower one. `http/` holds the
// route-adapter helpers (request ids, problems, routes, JSON bodies) that capabilities import,
// so it is placed just above platform; `http/app.ts` and `http/server.ts` are the adapters
// that assemble every capability and so sit with the composition root.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(process.argv[2] ?? ".");
const src = path.join(root, "src");

const LAYERS = [
  ["platform", "package-paths.ts"],
  ["http"],
  ["audit"],
  ["authz"],
  ["identity"],
  ["access"],
  ["nodes", "secrets", "identity/nodes"],
  ["http-assembly"],
  ["custos.ts", "dev", "cli"],
];

function* tsFiles(dir) {
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) yield* tsFiles(full);
    else if (name.endsWith(".ts")) yield full;
  }
}

/** The unit a file belongs to: its top folder under src/ (identity/nodes counts apart). */
function unitOf(file) {
  const rel = path.relative(src, file).split(path.sep).join("/");
  if (rel.startsWith("identity/nodes/")) return "identity/nodes";
  if (rel === "http/app.ts" || rel === "http/server.ts") return "http-assembly";
  const first = rel.split("/")[0];
  return first;
}

function layerOf(unit) {
  const index = LAYERS.findIndex((layer) => layer.includes(unit));
  return index === -1 ? LAYERS.length : index;
}

const IMPORT = /from\s+"(\.{1,2}\/[^"]+)"/g;
const lines = new Map();
const upward = [];
let total = 0;

for (const file of tsFiles(src)) {
  const text = readFileSync(file, "utf8");
  const count = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
  const unit = unitOf(file);
  const capability = unit === "http-assembly" ? "http" : unit === "identity/nodes" ? "identity" : unit;
  lines.set(capability, (lines.get(capability) ?? 0) + count);
  total += count;
  for (const match of text.matchAll(IMPORT)) {
    const target = path.resolve(path.dirname(file), match[1]);
    if (!target.startsWith(src)) continue;
    const targetUnit = unitOf(target);
    if (layerOf(targetUnit) > layerOf(unit)) {
      upward.push(`${path.relative(src, file)} -> ${path.relative(src, target)}  (${unit} imports ${targetUnit})`);
    }
  }
}

console.log(`Lines per capability (src/, ${total} lines):`);
for (const [capability, count] of [...lines].sort((a, b) => b[1] - a[1])) {
  console.log(`  ${capability.padEnd(16)} ${String(count).padStart(6)}  ${((100 * count) / total).toFixed(1).padStart(5)}%`);
}
console.log(`\nUpward imports (${upward.length}):`);
for (const line of upward.sort()) console.log(`  ${line}`);
