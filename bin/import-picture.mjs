#!/usr/bin/env node
// The import picture of src/: each capability's share of the lines, and every import that
// runs upward against the layering in docs/design.md. No dependencies: a regex on `from "…"`.
//
//   node bin/import-picture.mjs [root]     (root defaults to the current directory)
//
// Layers, lowest first; a file may import its own layer or any lower one. `http/` holds the
// route-adapter helpers (request ids, problems, routes, JSON bodies) that capabilities import,
// so it is placed just above platform. The HTTP adapters sit above every capability: route
// files (`*.routes.ts`, wherever they live), `http/app.ts`, `http/server.ts`, and the
// authentication steps and credential locals that turn a request into a verb's plain input.
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
  ["nodes", "secrets", "identity/nodes", "console"],
  // Signed events sit above the verbs that announce them (each verb holds a small port) and
  // below the HTTP adapters: they use the access keys, the audit, the node repository.
  ["events"],
  ["http-adapters"],
  ["custos.ts", "dev", "cli", "agent"],
];

const HTTP_ADAPTERS = new Set(["http/app.ts", "http/server.ts", "http/authenticate-steps.ts", "http/credential-locals.ts"]);

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
  if (HTTP_ADAPTERS.has(rel) || rel.endsWith(".routes.ts")) return "http-adapters";
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
  // Lines are counted by folder; identity/nodes apart, since it is on its way to src/nodes/.
  const rel = path.relative(src, file).split(path.sep).join("/");
  const capability = rel.startsWith("identity/nodes/") ? "identity/nodes" : rel.split("/")[0];
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
