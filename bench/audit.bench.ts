/**
 * `npm run bench -- audit [--rows 1000000] [--workers N] [--rounds 3]`
 *
 * 1. Append throughput, 64 concurrent callers on one chain: group commit against one
 *    transaction per row, same process, same database, same run.
 * 2. A chain of --rows rows (default 1,000,000), written fast (bench/support/audit-chain-fill.ts)
 *    but a valid chain.
 * 3. The raw SHA-256 rate over the canonical bytes of its first rows (at most 100,000, read
 *    and canonicalised beforehand): one one-shot digest of prev_hash's 32 bytes and the
 *    canonical JSON per row, the fastest way Node hashes them (and, for comparison with
 *    figures before issue 18, a Hash object with two updates, the old denominator).
 * 4. Verifying the whole chain as the route and the CLI do (verifyAuditChain: pages after the
 *    first on worker threads, --workers of them or the default), its rows/s against (3), and
 *    its seconds and this process's CPU time a row (all threads); then the same chain walked on
 *    this thread alone (verifyChain), for comparison.
 *    (3) and (4) are measured --rounds times (3 by default) and printed each, with their range.
 *
 * Uses the PostgreSQL server named by DATABASE_URL (a scratch database is created and
 * dropped); without it, embedded PGlite, which the figures then describe.
 *
 * For iterating on verification: `--database <name>` uses (and keeps) that database on the
 * server, writes the chain only when it holds fewer rows than --rows, and with
 * `--verify-only` skips (1).
 */
import { createHash, hash, randomBytes } from "node:crypto";
import postgres from "postgres";
import type { AuditEventInput } from "../src/audit/audit-port.ts";
import { verifyAuditChain } from "../src/audit/audit-reads.ts";
import { canonicalRecordBytes } from "../src/audit/audit-record.ts";
import { readHeadSeq, streamRecordPages } from "../src/audit/audit-store.ts";
import { verifyChain, type VerificationReport } from "../src/audit/audit-verifier.ts";
import { defaultWorkerCount } from "../src/audit/verification-workers.ts";
import { createGroupCommitAppender } from "../src/audit/group-commit-appender.ts";
import { MIGRATIONS_DIR } from "../src/package-paths.ts";
import { openPglite, openPostgres } from "../src/platform/db/connect.ts";
import type { Database } from "../src/platform/db/database.ts";
import { loadMigrations, migrateUp } from "../src/platform/db/migrate.ts";

import { fillChain } from "./support/audit-chain-fill.ts";

const option = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(name);
  return index > 0 ? Number(process.argv[index + 1]) : fallback;
};
const ROWS = option("--rows", 1_000_000);
const WORKERS = option("--workers", defaultWorkerCount());
const ROUNDS = option("--rounds", 3);
const SAMPLE = Math.min(ROWS, 100_000);
const CALLERS = 64;
const KEPT_DATABASE = ((): string | undefined => {
  const index = process.argv.indexOf("--database");
  return index > 0 ? process.argv[index + 1] : undefined;
})();
const VERIFY_ONLY = process.argv.includes("--verify-only");

function rate(count: number, ms: number): number {
  return Math.round((count / ms) * 1000);
}

async function openScratch(): Promise<{ db: Database; label: string; drop: () => Promise<void> }> {
  const url = process.env.DATABASE_URL;
  if (url === undefined || url === "") {
    const db = await openPglite();
    return { db, label: "PGlite (in memory)", drop: () => db.close() };
  }
  const name = KEPT_DATABASE ?? `custos_bench_${randomBytes(4).toString("hex")}`;
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a database name: ${name}`);
  const admin = postgres(url, { max: 1, onnotice: () => undefined });
  const exists = await admin.unsafe("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
  if (exists.length === 0) await admin.unsafe(`CREATE DATABASE ${name}`);
  const target = new URL(url);
  target.pathname = `/${name}`;
  const db = openPostgres({ url: target.toString(), maxConnections: 10 });
  if (KEPT_DATABASE !== undefined) {
    return { db, label: `PostgreSQL server (kept database ${name})`, drop: async () => { await db.close(); await admin.end(); } };
  }
  return {
    db,
    label: "PostgreSQL server",
    drop: async () => {
      await db.close();
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

function event(chain: string, n: number): AuditEventInput {
  return {
    chain,
    actor: `node:${randomBytes(16).toString("hex")}`,
    action: "secret.read",
    resource: `secret:${chain}/database-password`,
    decision: "granted" as const,
    reason: "ok",
    requestId: `bench-${String(n)}`,
    details: { kid: "k1", version: 3 },
  };
}

/** 64 callers, each appending in a loop until `total` appends have been made. */
async function appendThroughput(db: Database, chain: string, total: number, maxBatchSize: number): Promise<{ perSecond: number; batches: number }> {
  let batches = 0;
  const appender = createGroupCommitAppender({ db, timeoutMs: 60_000, maxBatchSize, onBatchCommitted: () => { batches += 1; } });
  let issued = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (issued < total) {
        issued += 1;
        await appender.append(event(chain, issued));
      }
    }),
  );
  return { perSecond: rate(total, performance.now() - started), batches };
}

const { db, label, drop } = await openScratch();
try {
  await migrateUp(db, await loadMigrations(MIGRATIONS_DIR));
  console.log(`audit benchmark on ${label}, ${String(CALLERS)} concurrent callers on one chain`);

  if (!VERIFY_ONLY) {
    // Warm-up, so neither side pays for first connections and JIT.
    await appendThroughput(db, "warmup", 500, 512);

    const perRow = await appendThroughput(db, "per-row", 3000, 1);
    const grouped = await appendThroughput(db, "grouped", 30000, 512);
    console.log(`append, one transaction per row : ${String(perRow.perSecond).padStart(8)} rows/s (${String(perRow.batches)} transactions)`);
    console.log(`append, group commit            : ${String(grouped.perSecond).padStart(8)} rows/s (${String(grouped.batches)} transactions, ${(30000 / grouped.batches).toFixed(1)} rows each)`);
    console.log(`ratio group commit / per row    : ${(grouped.perSecond / perRow.perSecond).toFixed(2)}x (aim: at least 5x)`);
  }

  const present = await readHeadSeq(db, "million");
  if (present > ROWS) throw new Error(`the kept database's chain holds ${String(present)} rows, more than --rows`);
  const started = performance.now();
  await fillChain(db, "million", ROWS - present, (done) => {
    if (process.stderr.isTTY) process.stderr.write(`\rfilling the chain: ${String(present + done)}/${String(ROWS)}`);
  });
  if (process.stderr.isTTY) process.stderr.write("\n");
  if (present < ROWS) await db.query("ANALYZE audit_events");
  console.log(`chain of ${String(ROWS)} rows written in ${((performance.now() - started) / 1000).toFixed(1)} s (setup, not measured${present > 0 ? `; ${String(present)} were there` : ""})`);

  // The very bytes verification hashes, for its first SAMPLE rows: prev_hash's 32 bytes, then the canonical JSON.
  const hashed: Buffer[] = [];
  for await (const page of streamRecordPages(db, "million", { pageSize: 5000 })) {
    for (const record of page) if (hashed.length < SAMPLE) hashed.push(Buffer.concat([Buffer.from(record.prev_hash, "hex"), canonicalRecordBytes(record)]));
    if (hashed.length >= SAMPLE) break;
  }
  const timed = (work: () => void): number => {
    const from = performance.now();
    work();
    return rate(hashed.length, performance.now() - from);
  };
  // CPU time of this process (all its threads, workers included) per row: steadier than wall
  // time on a machine whose cores other work shares. The database server's CPU is not in it.
  const verifyTimed = async (verify: () => Promise<VerificationReport>): Promise<{ rate: number; seconds: number; cpuMicros: number }> => {
    const from = performance.now();
    const cpuFrom = process.cpuUsage();
    const report = await verify();
    const seconds = (performance.now() - from) / 1000;
    const cpu = process.cpuUsage(cpuFrom);
    if (!report.ok || report.rows_checked !== ROWS) throw new Error(`the benchmark chain does not verify: ${JSON.stringify(report.failure)}`);
    return { rate: rate(report.rows_checked, seconds * 1000), seconds, cpuMicros: (cpu.user + cpu.system) / report.rows_checked };
  };
  const range = (values: readonly number[], digits = 0): string =>
    values.length === 1 ? (values[0] ?? 0).toFixed(digits) : `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
  const ratios: number[] = [];
  const oldRatios: number[] = [];
  const seconds: number[] = [];
  const cpuMicros: number[] = [];
  const inThreadRatios: number[] = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    const shaRate = timed(() => { for (const bytes of hashed) hash("sha256", bytes, "hex"); });
    const oldShaRate = timed(() => { for (const bytes of hashed) createHash("sha256").update(bytes.subarray(0, 32)).update(bytes.subarray(32)).digest("hex"); });
    const workers = await verifyTimed(() => verifyAuditChain(db, "million", { workers: WORKERS }));
    const inThread = await verifyTimed(() => verifyChain({ chain: "million", records: streamRecordPages(db, "million", { pageSize: 5000 }) }));
    ratios.push(workers.rate / shaRate);
    oldRatios.push(workers.rate / oldShaRate);
    seconds.push(workers.seconds);
    cpuMicros.push(workers.cpuMicros);
    inThreadRatios.push(inThread.rate / shaRate);
    console.log(`round ${String(round)}`);
    console.log(`  raw SHA-256 over canonical bytes: ${String(shaRate).padStart(8)} rows/s (one-shot digest; ${String(oldShaRate)} rows/s with a Hash object and two updates, the denominator before issue 18)`);
    console.log(`  verify, ${String(WORKERS)} worker thread(s)     : ${String(workers.rate).padStart(8)} rows/s, ${String(ROWS)} rows in ${workers.seconds.toFixed(1)} s (read, parse, JCS, hash, link); ${workers.cpuMicros.toFixed(2)} µs of this process's CPU a row`);
    console.log(`  verify on this thread alone     : ${String(inThread.rate).padStart(8)} rows/s, ${inThread.seconds.toFixed(1)} s; ${inThread.cpuMicros.toFixed(2)} µs of CPU a row`);
    console.log(`  ratio verify / raw SHA-256      : ${(workers.rate / shaRate).toFixed(2)} (aim: at least 0.5); ${(workers.rate / oldShaRate).toFixed(2)} against the old denominator; on this thread alone ${(inThread.rate / shaRate).toFixed(2)}`);
  }
  console.log(`over ${String(ROUNDS)} rounds: ratio ${range(ratios, 2)} (old denominator ${range(oldRatios, 2)}; this thread alone ${range(inThreadRatios, 2)}), ${String(ROWS)} rows verified in ${range(seconds, 1)} s (aim: under 5 s), ${range(cpuMicros, 2)} µs of this process's CPU a row`);
} finally {
  await drop();
}
