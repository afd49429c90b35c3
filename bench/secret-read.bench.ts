/**
 * `npm run bench -- secret-read [--reads 10000] [--rounds 1]`
 *
 * Secret reads per second and p50/p99 latency at 32 connections, measured from outside:
 *
 * * the server is a started `custos serve` (dist/, built first) in its own process, on a
 *   fresh database of the PostgreSQL server (DATABASE_URL), embedded SpiceDB engine, local
 *   secret backend, rate limits raised so that they do not cap the measurement;
 * * the baseline is a bare Express endpoint doing one durable INSERT per request on the same
 *   database, in its own process;
 * * the load generator (autocannon, bench/support/load.ts) runs in its own process, against
 *   one and then the other, at the same concurrency.
 *
 * The server records its spans in memory (CUSTOS_BENCH_SPANS) and writes them out when it
 * stops: the per-stage p50/p99 printed next to the ratio are read from them, for the requests
 * of the measured run only. Then: the number of 200 answers equals the number of granted
 * audit records, and the chain verifies. `--no-spans` runs the server without the span
 * recorder (the no-op tracer, as in production with OTEL_EXPORTER_OTLP_ENDPOINT unset).
 *
 * `--rss` samples the serving process's resident set (VmRSS in /proc/<pid>/status) every
 * RSS_SAMPLE_MS from start to stop and prints its start, peak and end: with `--reads 100000`,
 * whether a replica's memory stays bounded through 100,000 reads. It implies `--no-spans`,
 * since the bench's span recorder keeps every span in memory by design. Each sample also
 * reads the V8 heap and its limit from /metrics, to tell the JavaScript heap from the rest.
 * By default `custos serve` is two processes (the launcher, and the server under the default
 * heap bound: src/cli/heap-bound.ts): the server is sampled, and the launcher's VmRSS is
 * printed beside it, with its proportional and anonymous share at the end.
 * `--server-node-options "<flags>"` starts the server with NODE_OPTIONS set to them: an
 * operator's bound (`--max-old-space-size=4096` for Node's own default on this machine) makes
 * it serve in one process.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { streamRecordPages } from "../src/audit/audit-store.ts";
import { verifyChain } from "../src/audit/audit-verifier.ts";
import { relationship } from "../src/authz/authorizer.ts";
import { domainRef, nodeRef, secretRef } from "../src/authz/object-ids.ts";
import { buildCustos } from "../src/custos.ts";
import { createDomainRepository } from "../src/identity/domains/domain-repo.ts";
import { issueNodeKey } from "../src/nodes/node-keys.ts";
import { createNodeRepository } from "../src/nodes/node-repo.ts";
import { deriveBearerSecret, formatNodeBearer } from "../src/nodes/nsk.ts";
import { POLICIES_DIR } from "../src/package-paths.ts";
import { loadConfig } from "../src/platform/config.ts";
import { openPostgres } from "../src/platform/db/connect.ts";
import { loadInOwnProcess, type LoadResult } from "./support/load-process.ts";

const option = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(name);
  return index > 0 ? Number(process.argv[index + 1]) : fallback;
};
const READS = option("--reads", 10_000);
const ROUNDS = option("--rounds", 1);
const RSS = process.argv.includes("--rss");
const SPANS = !process.argv.includes("--no-spans") && !RSS;
const RSS_SAMPLE_MS = 500;
const serverNodeOptionsAt = process.argv.indexOf("--server-node-options");
const SERVER_NODE_OPTIONS = serverNodeOptionsAt > 0 ? (process.argv[serverNodeOptionsAt + 1] ?? "") : "";
const CONNECTIONS = 32;
/** The server's heap bound while its span recorder holds every span of the run. */
const SPAN_RECORDER_HEAP_MB = 2048;
const ROOT = fileURLToPath(new URL("..", import.meta.url));

const url = process.env.DATABASE_URL;
if (url === undefined || url === "") {
  console.error("secret-read bench: set DATABASE_URL to a PostgreSQL server (the figures are meant for the server)");
  process.exit(2);
}

/** A recorded span, as the server's bench recorder writes it (src/platform/telemetry.ts). */
interface RecordedSpan {
  readonly name: string;
  readonly start: number;
  readonly ms: number;
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** Autocannon in its own process. */
function load(target: string, amount: number, headers: Readonly<Record<string, string>> = {}): Promise<LoadResult> {
  return loadInOwnProcess(target, amount, CONNECTIONS, headers);
}

/** Starts a long-running child and resolves with the first line `found` picks out of its output. */
function startChild(args: readonly string[], env: NodeJS.ProcessEnv, found: (line: string) => string | undefined): Promise<{ child: ChildProcess; value: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let settled = false;
    const scan = (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) {
        const value = found(line);
        if (value !== undefined && !settled) {
          settled = true;
          resolve({ child, value });
        }
        if (!settled && line.trim() !== "") process.stderr.write(`  [${path.basename(args.at(-1) ?? "child")}] ${line}\n`);
      }
    };
    child.stdout.on("data", scan);
    child.stderr.on("data", scan);
    child.once("exit", (code) => { if (!settled) reject(new Error(`${args.join(" ")} exited ${String(code)} before it was ready`)); });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) { resolve(); return; }
    child.once("exit", () => { resolve(); });
    child.kill("SIGTERM");
  });
}

/** A figure from /proc/<pid>/status (VmRSS, RssAnon, …) in bytes, or undefined once the process is gone. */
async function statusBytes(pid: number, field: string): Promise<number | undefined> {
  const status = await readFile(`/proc/${String(pid)}/status`, "utf8").catch(() => undefined);
  const kilobytes = status === undefined ? undefined : new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status)?.[1];
  return kilobytes === undefined ? undefined : Number(kilobytes) * 1024;
}

/** CPU seconds a process has used (user + system, /proc/<pid>/stat), or undefined once it is gone. */
async function cpuSeconds(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${String(pid)}/stat`, "utf8").catch(() => undefined);
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14 and 15.
  const fields = stat?.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = fields === undefined ? Number.NaN : Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks / CLOCK_TICKS_PER_SECOND : undefined;
}

/** USER_HZ on Linux. */
const CLOCK_TICKS_PER_SECOND = 100;

/** A process's proportional set size (shared pages split among the processes mapping them), in bytes. */
async function proportionalBytes(pid: number): Promise<number | undefined> {
  const rollup = await readFile(`/proc/${String(pid)}/smaps_rollup`, "utf8").catch(() => undefined);
  const kilobytes = rollup === undefined ? undefined : /^Pss:\s+(\d+) kB$/m.exec(rollup)?.[1];
  return kilobytes === undefined ? undefined : Number(kilobytes) * 1024;
}

/**
 * The process that serves: `custos serve` (bin/custos.mjs) starts the server as a child Node
 * process under the default heap bound, and stands in for it; with an operator's bound in
 * NODE_OPTIONS it serves itself. Read once the server is serving.
 */
async function servingPid(launcherPid: number): Promise<number> {
  const children = await readFile(`/proc/${String(launcherPid)}/task/${String(launcherPid)}/children`, "utf8").catch(() => "");
  const child = children.trim().split(/\s+/).find((pid) => pid !== "");
  return child === undefined ? launcherPid : Number(child);
}

/** What the server's /metrics says of its memory (prom-client's default metrics and the heap limit), in bytes. */
interface HeapFigures {
  readonly heapTotal: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly limit: number;
}

async function heapFigures(metricsUrl: string): Promise<HeapFigures | undefined> {
  const text = await fetch(metricsUrl).then((response) => response.text(), () => undefined);
  if (text === undefined) return undefined;
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
  const figures = {
    heapTotal: value("custos_nodejs_heap_size_total_bytes"), heapUsed: value("custos_nodejs_heap_size_used_bytes"),
    external: value("custos_nodejs_external_memory_bytes"), limit: value("custos_nodejs_heap_size_limit_bytes"),
  };
  return Object.values(figures).every(Number.isFinite) ? figures : undefined;
}

interface ResidentSample {
  readonly at: number;
  /** VmRSS of the serving process. */
  readonly rss: number;
  /** VmRSS of the launcher when it is a separate process (the default heap bound). */
  readonly launcherRss: number | undefined;
  readonly heap: HeapFigures | undefined;
  /** CPU seconds the serving process has used so far. */
  readonly cpu: number | undefined;
}

/**
 * Samples the serving process's RSS (and the launcher's, when separate) on a timer until
 * stopped, with its V8 heap and external memory from /metrics at each sample, so a peak can
 * be split into the JavaScript heap and the rest (the embedded SpiceDB engine, buffers, code).
 */
function sampleResident(launcherPid: number, serverPid: number, metricsUrl: string): { stop: () => Promise<readonly ResidentSample[]> } {
  const samples: ResidentSample[] = [];
  const take = async () => {
    const [rss, launcherRss, heap, cpu] = await Promise.all([
      statusBytes(serverPid, "VmRSS"),
      serverPid === launcherPid ? undefined : statusBytes(launcherPid, "VmRSS"),
      heapFigures(metricsUrl),
      cpuSeconds(serverPid),
    ]);
    if (rss !== undefined) samples.push({ at: Date.now(), rss, launcherRss, heap, cpu });
  };
  let running = take();
  const timer = setInterval(() => { running = running.then(take); }, RSS_SAMPLE_MS);
  return {
    async stop() {
      clearInterval(timer);
      await running;
      await take();
      return samples;
    },
  };
}

/** The sample with the largest RSS among those taken in [from, to]. */
function peakOf(samples: readonly ResidentSample[], from = 0, to = Number.POSITIVE_INFINITY): ResidentSample | undefined {
  return samples.filter((sample) => sample.at >= from && sample.at <= to).reduce<ResidentSample | undefined>((peak, sample) => (peak === undefined || sample.rss > peak.rss ? sample : peak), undefined);
}

/**
 * The serving process's CPU milliseconds per read over a round, from the samples inside it
 * (scaled to the part of the round they span): steadier than reads/s on a shared machine.
 */
function cpuMsPerRead(samples: readonly ResidentSample[], reads: LoadResult): string {
  const inside = samples.filter((sample) => sample.at >= reads.startedAt && sample.at <= reads.endedAt && sample.cpu !== undefined);
  const first = inside[0];
  const last = inside.at(-1);
  if (first?.cpu === undefined || last?.cpu === undefined || last.at === first.at) return "unknown";
  const spanned = (last.at - first.at) / (reads.endedAt - reads.startedAt);
  return ((last.cpu - first.cpu) * 1000 / (reads.ok * spanned)).toFixed(2);
}

const megabytes = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

function describeSample(sample: ResidentSample | undefined): string {
  if (sample === undefined) return "no sample";
  const { heap } = sample;
  const launcher = sample.launcherRss === undefined ? "" : `; launcher ${megabytes(sample.launcherRss)}`;
  return heap === undefined
    ? `${megabytes(sample.rss)}${launcher}`
    : `${megabytes(sample.rss)} (V8 heap ${megabytes(heap.heapTotal)}, ${megabytes(heap.heapUsed)} used; external ${megabytes(heap.external)}; the rest ${megabytes(sample.rss - heap.heapTotal - heap.external)})${launcher}`;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Per span name: count, p50, p99 (ms), the mean of every numeric attribute and the share of spans with each boolean attribute true. */
function stageTable(spans: readonly RecordedSpan[]): string[] {
  const byName = new Map<string, { first: number; durations: number[]; numeric: Map<string, { sum: number; n: number }>; flags: Map<string, number> }>();
  for (const span of spans) {
    let group = byName.get(span.name);
    if (group === undefined) {
      group = { first: span.start, durations: [], numeric: new Map(), flags: new Map() };
      byName.set(span.name, group);
    }
    group.durations.push(span.ms);
    for (const [key, value] of Object.entries(span.attributes)) {
      if (typeof value === "boolean") {
        const flags = group.flags.get(key) ?? 0;
        group.flags.set(key, flags + (value ? 1 : 0));
        continue;
      }
      if (typeof value !== "number") continue;
      const total = group.numeric.get(key) ?? { sum: 0, n: 0 };
      total.sum += value;
      total.n += 1;
      group.numeric.set(key, total);
    }
  }
  const lines: string[] = [];
  for (const [name, group] of [...byName].sort((a, b) => a[1].first - b[1].first)) {
    const durations = group.durations.sort((a, b) => a - b);
    const means = [
      ...[...group.numeric].map(([key, { sum, n }]) => `${key.replace("custos.", "")} mean ${(sum / n).toFixed(1)}`),
      ...[...group.flags].map(([key, trues]) => `${key.replace("custos.", "")} ${(100 * trues / durations.length).toFixed(0)}%`),
    ];
    lines.push(`  ${name.padEnd(36)} n ${String(durations.length).padStart(6)}  p50 ${percentile(durations, 50).toFixed(2).padStart(7)} ms  p99 ${percentile(durations, 99).toFixed(2).padStart(7)} ms  ${means.join(", ")}`);
  }
  return lines;
}

console.error("secret-read bench: building dist/ (the server runs as `custos serve`)");
if (spawnSync(process.execPath, ["bin/build.mjs"], { cwd: ROOT, stdio: "inherit" }).status !== 0) process.exit(1);

const dbName = `custos_bench_${randomBytes(4).toString("hex")}`;
const admin = postgres(url, { max: 1, onnotice: () => undefined });
await admin.unsafe(`CREATE DATABASE ${dbName}`);
const target = new URL(url);
target.pathname = `/${dbName}`;
const scratch = await mkdtemp(path.join(os.tmpdir(), "custos-bench-"));
const children: ChildProcess[] = [];

try {
  const policies = path.join(scratch, "policies");
  await mkdir(policies);
  await copyFile(path.join(POLICIES_DIR, "schema.zed"), path.join(policies, "schema.zed"));
  await copyFile(path.join(POLICIES_DIR, "step-up.yaml"), path.join(policies, "step-up.yaml"));
  await writeFile(path.join(policies, "rate-limits.yaml"), "secret_reads:\n  per_node: { limit: 1000000, window_seconds: 60 }\n  per_domain: { limit: 1000000, window_seconds: 60 }\n");
  const spansFile = path.join(scratch, "spans.json");
  const serverEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH, NODE_ENV: "development", CUSTOS_LOG_LEVEL: "warn", DATABASE_URL: target.toString(),
    CUSTOS_DATA_DIR: path.join(scratch, "data"), CUSTOS_POLICIES_DIR: policies, CUSTOS_HOST: "127.0.0.1", CUSTOS_PORT: "0",
    ...(SPANS ? { CUSTOS_BENCH_SPANS: spansFile } : {}),
    ...(SERVER_NODE_OPTIONS === "" ? {} : { NODE_OPTIONS: SERVER_NODE_OPTIONS }),
    // The server's heap bound (src/cli/heap-bound.ts), when the bench is run with one. The
    // span recorder keeps every span of the run in memory (about eleven a read), which the
    // default bound is not sized for: with spans, the bound is raised unless one is given.
    ...(process.env.CUSTOS_MAX_HEAP_MB !== undefined
      ? { CUSTOS_MAX_HEAP_MB: process.env.CUSTOS_MAX_HEAP_MB }
      : SPANS ? { CUSTOS_MAX_HEAP_MB: String(SPAN_RECORDER_HEAP_MB) } : {}),
  };

  // Setup through the services' own ports, in this process, before the server starts (the
  // embedded engine serves one process at a time; relationships are kept in the database).
  const setup = await buildCustos({ config: loadConfig(serverEnv) });
  await createDomainRepository(setup.db).upsert({ id: "bench", issuer: "https://idp.bench.example", clientId: "custos", admins: [], auditors: [] });
  const nodeId = randomUUID();
  const key = await issueNodeKey(setup.backend, nodeId);
  await createNodeRepository(setup.db).insertNode({ id: nodeId, domain: "bench", name: "bench-node", status: "active" }, key.record);
  await setup.backend.writeSecret("bench", "db-password", Buffer.from("benchmark-value"));
  const revision = await setup.authorizer.writeRelationships([
    relationship(nodeRef(nodeId), "domain", domainRef("bench")),
    relationship(secretRef("bench", "db-password"), "domain", domainRef("bench")),
    relationship(secretRef("bench", "db-password"), "reader", nodeRef(nodeId)),
  ], []);
  // The revision kept with the secret, as a write through the API keeps it (the read path's consistency and decision key).
  await setup.db.query("INSERT INTO secrets (domain, name, version, authz_revision) VALUES ('bench', 'db-password', 1, $1)", [revision]);
  await setup.close();
  const bearer = formatNodeBearer(key.kid, deriveBearerSecret(Buffer.from(key.nsk, "base64url")));

  const server = await startChild(["bin/custos.mjs", "serve"], serverEnv, (line) => /custos serving on (\S+)/.exec(line)?.[1]);
  children.push(server.child);
  const launcherPid = server.child.pid;
  if (RSS && launcherPid === undefined) throw new Error("the server process has no pid to sample");
  const serverPid = RSS && launcherPid !== undefined ? await servingPid(launcherPid) : undefined;
  const rss = launcherPid !== undefined && serverPid !== undefined ? sampleResident(launcherPid, serverPid, `${server.value}/metrics`) : undefined;
  const baseline = await startChild(["--import", "tsx", "bench/support/baseline-server.ts"], { PATH: process.env.PATH, DATABASE_URL: target.toString() }, (line) => (line.startsWith("http://") ? line.trim() : undefined));
  children.push(baseline.child);

  const secretUrl = `${server.value}/v1/nodes/${nodeId}/secrets/db-password`;
  // In the environment, not on the command line, where any process could read it.
  const auth = { authorization: `Bearer ${bearer}` };
  await load(secretUrl, 500, auth);
  await load(baseline.value, 500);

  const rounds: { reads: LoadResult; base: LoadResult }[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const reads = await load(secretUrl, READS, auth);
    const base = await load(baseline.value, READS);
    rounds.push({ reads, base });
  }

  const resident = await rss?.stop();
  // The launcher's own share: most of its RSS is the node binary, whose pages the server maps too.
  const launcherShare = launcherPid !== undefined && serverPid !== undefined && serverPid !== launcherPid
    ? { pss: await proportionalBytes(launcherPid), anon: await statusBytes(launcherPid, "RssAnon") }
    : undefined;
  await stopChild(server.child);
  await stopChild(baseline.child);

  console.log(`secret read benchmark: custos serve (PostgreSQL server, embedded SpiceDB, local backend) and a bare INSERT endpoint, each in its own process; autocannon in its own process; ${String(CONNECTIONS)} connections, ${String(READS)} requests each${SPANS ? "; spans recorded in memory" : "; no span recorder (no-op tracer)"}`);
  for (const { reads, base } of rounds) {
    console.log(`secret reads      : ${reads.rate.toFixed(0).padStart(7)} req/s  p50 ${String(reads.p50)} ms  p99 ${String(reads.p99)} ms  (2xx ${String(reads.ok)}, non-2xx ${String(reads.notOk)}, errors ${String(reads.errors)})`);
    console.log(`baseline INSERT   : ${base.rate.toFixed(0).padStart(7)} req/s  p50 ${String(base.p50)} ms  p99 ${String(base.p99)} ms`);
    console.log(`ratio reads / baseline: ${(reads.rate / base.rate).toFixed(2)} (aim: at least 0.5)`);
  }

  if (resident !== undefined) {
    const limit = resident[0]?.heap?.limit;
    console.log(`server RSS (VmRSS, ${String(resident.length)} samples every ${String(RSS_SAMPLE_MS)} ms from start to stop; NODE_OPTIONS ${SERVER_NODE_OPTIONS === "" ? "unset" : `"${SERVER_NODE_OPTIONS}"`}; V8 heap limit ${limit === undefined ? "unknown" : megabytes(limit)}; ${serverPid === launcherPid ? "served by the launcher itself" : "served by the launcher's child"}; aim: under 300 MB)`);
    console.log(`  start               : ${describeSample(resident[0])}`);
    for (const [index, { reads }] of rounds.entries()) console.log(`  peak in reads (${String(index + 1)})   : ${describeSample(peakOf(resident, reads.startedAt, reads.endedAt))}; server CPU ${cpuMsPerRead(resident, reads)} ms a read`);
    console.log(`  peak, whole run     : ${describeSample(peakOf(resident))}`);
    console.log(`  end                 : ${describeSample(resident.at(-1))}`);
    if (launcherShare !== undefined) console.log(`  launcher at the end : Pss ${launcherShare.pss === undefined ? "?" : megabytes(launcherShare.pss)}, anonymous ${launcherShare.anon === undefined ? "?" : megabytes(launcherShare.anon)} (the rest of its VmRSS is shared with the server: the node binary)`);
  }

  if (SPANS) {
    const recorded = await readFile(spansFile, "utf8").then((text) => JSON.parse(text) as RecordedSpan[], () => undefined);
    if (recorded === undefined) {
      console.log("stages: the server wrote no spans (built without the bench span recorder)");
    } else {
      const measured = rounds.flatMap(({ reads }) => recorded.filter((span) => span.start >= reads.startedAt && span.start <= reads.endedAt));
      console.log(`stages of the measured reads, from the server's spans (ms):`);
      for (const line of stageTable(measured)) console.log(line);
    }
  }

  const db = openPostgres({ url: target.toString() });
  try {
    const granted = Number((await db.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE chain = 'bench' AND action = 'secret.read' AND decision = 'granted'"))[0]?.n);
    const answered = 500 + rounds.reduce((sum, { reads }) => sum + reads.ok, 0);
    const report = await verifyChain({ chain: "bench", records: streamRecordPages(db, "bench", { pageSize: 5000 }) });
    console.log(`200 answers ${String(answered)} vs granted audit records ${String(granted)}: ${answered === granted ? "equal" : "DIFFERENT"}; chain ${report.ok ? "verifies" : `FAILS: ${JSON.stringify(report.failure)}`} (${String(report.rows_checked)} rows)`);
  } finally {
    await db.close();
  }
} finally {
  for (const child of children) await stopChild(child);
  await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
  await rm(scratch, { recursive: true, force: true });
}
