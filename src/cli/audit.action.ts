import { readFile } from "node:fs/promises";
import { loadAuditKeyFile, loadOrCreateAuditKeyFile, type AuditSigner } from "../audit/audit-signer.ts";
import { streamRecordPages } from "../audit/audit-store.ts";
import { verifyChain, type VerificationReport } from "../audit/audit-verifier.ts";
import { signCheckpoint, parseCheckpoint, type SignedCheckpoint } from "../audit/checkpoints.ts";
import { exportMirror, readMirror } from "../audit/mirror.ts";
import type { Config } from "../platform/config.ts";
import type { Database } from "../platform/db/database.ts";
import { PLATFORM_CHAIN } from "../platform/names.ts";
import { openSecretBackend } from "../secrets/open-secret-backend.ts";
import { chainExists, describeStore, withDatabase } from "./cli-database.ts";

async function readCheckpointFile(file: string): Promise<SignedCheckpoint> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new Error(`cannot read the checkpoint file ${file}`, { cause: error });
  }
  try {
    return parseCheckpoint(JSON.parse(text));
  } catch (error) {
    throw new Error(`${file} is not a Custos checkpoint: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/**
 * The audit key as the server holds it, wrapped by the configured secret backend. Signing
 * creates it on first use; verifying only ever reads it.
 */
async function withAuditSigner<T>(config: Config, use: "sign" | "verify", work: (signer: AuditSigner) => Promise<T>): Promise<T> {
  const backend = await openSecretBackend(config);
  try {
    const signer = use === "sign"
      ? await loadOrCreateAuditKeyFile(config.auditKeyFile, backend)
      : await loadAuditKeyFile(config.auditKeyFile, backend);
    return await work(signer);
  } finally {
    await backend.close();
  }
}

/** A typo must not verify as an empty, intact chain: a chain with no domain and no records does not exist. */
async function requireChain(db: Database, config: Config, chain: string): Promise<void> {
  if (chain === PLATFORM_CHAIN || (await chainExists(db, chain))) return;
  throw new Error(`no such chain: ${chain} (no domain and no audit records in ${describeStore(config)})`);
}

function describe(report: VerificationReport): string {
  const lines = [
    `chain ${report.chain}: ${report.ok ? "OK" : "FAILED"}`,
    `rows checked: ${String(report.rows_checked)}`,
    `head: ${report.head === null ? "(empty chain)" : `seq ${String(report.head.seq)} ${report.head.hash} at ${report.head.at}`}`,
  ];
  if (report.checkpoint !== null) lines.push(`checkpoint: seq ${String(report.checkpoint.seq)} ${report.checkpoint.checked ? "matched" : "not reached"}`);
  if (report.mirror !== null) lines.push(`mirror: ${String(report.mirror.rows_compared)} rows compared`);
  if (report.failure !== null) lines.push(`FAILURE ${report.failure.kind} at seq ${String(report.failure.seq)}: ${report.failure.detail}`);
  return lines.join("\n");
}

export async function runAuditVerify(chain: string, options: { checkpoint?: string; mirror?: string; json?: boolean }): Promise<void> {
  const checkpoint = options.checkpoint === undefined ? undefined : await readCheckpointFile(options.checkpoint);
  const report = await withDatabase(async (db, config) => {
    await requireChain(db, config, chain);
    const started = Date.now();
    const showProgress = process.stderr.isTTY;
    const verify = (signer?: AuditSigner) =>
      verifyChain({
        chain,
        records: streamRecordPages(db, chain, { pageSize: 5000 }),
        ...(checkpoint === undefined ? {} : { checkpoint }),
        ...(options.mirror === undefined || signer === undefined ? {} : { mirror: readMirror(options.mirror, signer, chain) }),
        ...(signer === undefined ? {} : { signer }),
        progressEvery: 50_000,
        onProgress: (rows) => {
          if (showProgress) {
            const seconds = (Date.now() - started) / 1000;
            process.stderr.write(`\rverified ${String(rows)} rows (${Math.round(rows / Math.max(seconds, 0.001)).toString()} rows/s)`);
          }
        },
      });
    // The audit key is needed only to check what it signed: a checkpoint or a mirror.
    return checkpoint === undefined && options.mirror === undefined ? verify() : withAuditSigner(config, "verify", verify);
  }, { existing: true });
  if (process.stderr.isTTY) process.stderr.write("\n");
  console.log(options.json === true ? JSON.stringify(report, null, 2) : describe(report));
  if (!report.ok) process.exitCode = 1;
}

export async function runAuditExport(chain: string, options: { out: string }): Promise<void> {
  const result = await withDatabase(async (db, config) => {
    await requireChain(db, config, chain);
    return withAuditSigner(config, "sign", (signer) => exportMirror(db, signer, chain, options.out));
  }, { existing: true });
  console.error(
    result.rows_written === 0
      ? `mirror ${options.out} is up to date (head seq ${String(result.head?.seq ?? 0)})`
      : `exported ${String(result.rows_written)} rows in ${String(result.segments_written)} segment(s) to ${options.out}; head seq ${String(result.head?.seq ?? 0)}`,
  );
  console.log(JSON.stringify(result));
}

export async function runAuditCheckpoint(chain: string): Promise<void> {
  const checkpoint = await withDatabase(async (db, config) => {
    await requireChain(db, config, chain);
    return withAuditSigner(config, "sign", (signer) => signCheckpoint(db, signer, chain));
  }, { existing: true });
  console.log(JSON.stringify(checkpoint, null, 2));
}
