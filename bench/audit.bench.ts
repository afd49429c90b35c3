/**
 * `npm run bench -- audit [--rows 1000000]`
 *
 * 1. Append throughput, 64 concurrent callers on one chain: group commit against one
 *    transaction per row, same process, same database, same run.
 * 2. Verification rate against the raw SHA-256 rate over the same canonical bytes.
 * 3. Time to verify a chain of --rows rows (default 1,000,000).
 *
 * Uses the PostgreSQL server named by DATABASE_URL (a scratch database is created and
 * dropped); without it, embedded PGlite, which the figures then describe.
 */
import { createHash, randomBytes } from "node:crypto";
import postgres from "postgres";
import type { AuditEventInput } from "../src/audit/audit-port.ts";
import { canonicalRecordBytes, chainRecord, genesisHash, type ChainedAuditRecord } from "../src/audit/audit-record.ts";
import { insertRecords, lockChain, readChainHead, streamRecordPages } from "../src/audit/audit-store.ts";
import { verifyChain } from "../src/audit/audit-verifier.ts";
import { createGroupCommitAppender } from "../src/audit/group-commit-appender.ts";
import { MIGRATIONS_DIR } from "../src/package-paths.ts";
import { openPglite, openPostgres } from "../src/platform/db/connect.ts";
import type { Database } from "../src/platform/db/database.ts";
import { loadMigrations, migrateUp } from "../src/platform/db/migrate.ts";

const rowsArg = process.argv.indexOf("--rows");
const MILLION = rowsArg > 0 ? Number(process.argv[rowsArg + 1]) : 1_000_000;
const CALLERS = 64;

function rate(count: number, ms: number): number {
  return Math.round((count / ms) * 1000);
}

async function openScratch(): Promise<{ db: Database; label: string; drop: () => Promise<void> }> {
  const url = process.env.DATABASE_URL;
  if (url === undefined || url === "") {
    const db = await openPglite();
    return { db, label: "PGlite (in memory)", drop: () => db.close() };
  }
  const name = `custos_bench_${randomBytes(4).toString("hex")}`;
  const admin = postgres(url, { max: 1, onnotice: () => undefined });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const target = new URL(url);
  target.pathname = `/${name}`;
  const db = openPostgres({ url: target.toString(), maxConnections: 10 });
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

/** Fills a chain quickly for the verification figures (setup, not measured). */
async function fillChain(db: Database, chain: string, rows: number): Promise<void> {
  const batch = 5000;
  for (let done = 0; done < rows; done += batch) {
    await db.transaction(async (tx) => {
      await lockChain(tx, chain, genesisHash(chain));
      const head = await readChainHead(tx, chain);
      let prev = head?.hash ?? genesisHash(chain);
      let seq = head?.seq ?? 0;
      const at = new Date().toISOString();
      const records: ChainedAuditRecord[] = [];
      for (let i = 0; i < Math.min(batch, rows - done); i += 1) {
        seq += 1;
        const e = event(chain, seq);
        const record = chainRecord({ chain, seq, at, actor: e.actor, action: e.action, resource: e.resource, decision: e.decision, reason: e.reason, request_id: e.requestId, details: e.details ?? {}, prev_hash: prev });
        prev = record.hash;
        records.push(record);
      }
      await insertRecords(tx, records);
    });
    if (process.stderr.isTTY) process.stderr.write(`\rfilling ${chain}: ${String(Math.min(done + batch, rows))}/${String(rows)}`);
  }
  if (process.stderr.isTTY) process.stderr.write("\n");
}

const { db, label, drop } = await openScratch();
try {
  await migrateUp(db, await loadMigrations(MIGRATIONS_DIR));
  console.log(`audit benchmark on ${label}, ${String(CALLERS)} concurrent callers on one chain`);

  // Warm-up, so neither side pays for first connections and JIT.
  await appendThroughput(db, "warmup", 500, 512);

  const perRow = await appendThroughput(db, "per-row", 3000, 1);
  const grouped = await appendThroughput(db, "grouped", 30000, 512);
  console.log(`append, one transaction per row : ${String(perRow.perSecond).padStart(8)} rows/s (${String(perRow.batches)} transactions)`);
  console.log(`append, group commit            : ${String(grouped.perSecond).padStart(8)} rows/s (${String(grouped.batches)} transactions, ${(30000 / grouped.batches).toFixed(1)} rows each)`);
  console.log(`ratio group commit / per row    : ${(grouped.perSecond / perRow.perSecond).toFixed(2)}x (aim: at least 5x)`);

  // Verification against raw SHA-256 over the very same canonical bytes.
  const sample: ChainedAuditRecord[] = [];
  for await (const page of streamRecordPages(db, "grouped", { pageSize: 5000 })) sample.push(...page);
  const canonical = sample.map((record) => canonicalRecordBytes(record));
  let started = performance.now();
  for (let round = 0; round < 3; round += 1) {
    for (const [i, bytes] of canonical.entries()) createHash("sha256").update(Buffer.from(sample[i]?.prev_hash ?? "", "hex")).update(bytes).digest("hex");
  }
  const shaRate = rate(canonical.length * 3, performance.now() - started);
  started = performance.now();
  let verified = 0;
  for (let round = 0; round < 3; round += 1) {
    const report = await verifyChain({ chain: "grouped", records: streamRecordPages(db, "grouped", { pageSize: 5000 }) });
    if (!report.ok) throw new Error("the benchmark chain does not verify");
    verified += report.rows_checked;
  }
  const verifyRate = rate(verified, performance.now() - started);
  console.log(`raw SHA-256 over canonical bytes: ${String(shaRate).padStart(8)} rows/s`);
  console.log(`verify (read, parse, JCS, hash) : ${String(verifyRate).padStart(8)} rows/s`);
  console.log(`ratio verify / raw SHA-256      : ${(verifyRate / shaRate).toFixed(2)} (aim: at least 0.5)`);

  if (MILLION > 0) {
    await fillChain(db, "million", MILLION);
    started = performance.now();
    const report = await verifyChain({ chain: "million", records: streamRecordPages(db, "million", { pageSize: 5000 }) });
    const seconds = (performance.now() - started) / 1000;
    if (!report.ok) throw new Error("the million-row chain does not verify");
    console.log(`verify ${String(report.rows_checked)} rows       : ${seconds.toFixed(1)} s (${String(rate(report.rows_checked, seconds * 1000))} rows/s)`);
  }
} finally {
  await drop();
}
