import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import os from "node:os";
import { keysVerifier, parseAuditJwks, publicJwkOf, type AuditJwks, type AuditPublicJwk } from "../audit/audit-jwks.ts";
import { createAuditKeyring, registeredAuditKeys, rotateAuditKey } from "../audit/audit-keys.ts";
import { loadAuditKeyFile, type AuditKeyVerifier, type AuditSigner } from "../audit/audit-signer.ts";
import { verifyAuditChain } from "../audit/audit-reads.ts";
import { streamRecordPages } from "../audit/audit-store.ts";
import { verifyChain, verifyCheckpointOffline, type VerificationReport } from "../audit/audit-verifier.ts";
import { auditActor } from "../audit/audit-vocabulary.ts";
import { signCheckpoint, parseCheckpoint, type SignedCheckpoint } from "../audit/checkpoints.ts";
import { exportMirror, readMirror, verifyMirrorOffline } from "../audit/mirror.ts";
import type { Config } from "../platform/config.ts";
import type { Database } from "../platform/db/database.ts";
import { PLATFORM_CHAIN } from "../platform/names.ts";
import { openSecretBackend } from "../secrets/open-secret-backend.ts";
import { CommandUsageError } from "./api-client.ts";
import { chainExists, describeStore, withDatabase } from "./cli-database.ts";
import { formatTable, printResult } from "./output.ts";

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
 * The audit keys as the server holds them: the key file (wrapped by the configured secret
 * backend) signs, and only while the keys table says it is the active key. Signing creates
 * the file on first use, as the server does.
 */
async function withAuditSigner<T>(db: Database, config: Config, work: (signer: AuditSigner) => Promise<T>): Promise<T> {
  const backend = await openSecretBackend(config);
  try {
    return await work(await createAuditKeyring({ db, file: config.auditKeyFile, wrapper: backend, create: true }).signingKey());
  } finally {
    await backend.close();
  }
}

/**
 * What checks a signature against the database: the registered public keys. A store whose keys
 * table is empty or missing (its keys predate registration, and no server has started since)
 * falls back to the key file, as before keys were registered; it is never created here.
 */
async function databaseVerifier<T>(db: Database, config: Config, work: (verifier: AuditKeyVerifier) => Promise<T>): Promise<T> {
  const keys = await registeredAuditKeys(db).catch(() => []);
  if (keys.length > 0) return work(keysVerifier(keys));
  const backend = await openSecretBackend(config);
  try {
    return await work(await loadAuditKeyFile(config.auditKeyFile, backend));
  } finally {
    await backend.close();
  }
}

/** A JWK set from a file or an http(s) URL (GET /v1/audit/keys of the deployment audited). */
async function readJwks(source: string): Promise<AuditJwks> {
  let text: string;
  if (/^https?:\/\//i.test(source)) {
    let response: Response;
    try {
      response = await fetch(source, { signal: AbortSignal.timeout(15_000), headers: { accept: "application/json" } });
    } catch (error) {
      throw new Error(`cannot fetch the keys from ${source}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (!response.ok) throw new Error(`cannot fetch the keys from ${source}: HTTP ${String(response.status)}`);
    text = await response.text();
  } else {
    try {
      text = await readFile(source, "utf8");
    } catch (error) {
      throw new Error(`cannot read the keys file ${source}`, { cause: error });
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not JSON`, { cause: error });
  }
  return parsed as AuditJwks;
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

export interface AuditVerifyOptions {
  readonly checkpoint?: string;
  readonly mirror?: string;
  readonly keys?: string;
  readonly json?: boolean;
}

function printReport(report: VerificationReport, json: boolean | undefined): void {
  console.log(json === true ? JSON.stringify(report, null, 2) : describe(report));
  if (!report.ok) process.exitCode = 1;
}

/**
 * With `--keys`: offline, with public keys only. No configuration, database, secret backend
 * or key file is read; the mirror (or the checkpoint alone) is what is verified.
 */
async function verifyOffline(chain: string | undefined, options: AuditVerifyOptions & { keys: string }): Promise<void> {
  if (options.mirror === undefined && options.checkpoint === undefined) {
    throw new CommandUsageError("--keys verifies a mirror (--mirror <dir>) or a checkpoint (--checkpoint <file>) without the database: give one or both");
  }
  const checkpoint = options.checkpoint === undefined ? undefined : await readCheckpointFile(options.checkpoint);
  let verifier: AuditKeyVerifier;
  try {
    verifier = keysVerifier(parseAuditJwks(await readJwks(options.keys)));
  } catch (error) {
    throw new Error(`${options.keys}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const report = options.mirror === undefined
    ? await verifyCheckpointOffline(checkpoint as SignedCheckpoint, verifier)
    : await verifyMirrorOffline(options.mirror, verifier, {
      ...(chain === undefined ? {} : { chain }),
      ...(checkpoint === undefined ? {} : { checkpoint }),
    });
  if (chain !== undefined && report.chain !== chain) throw new Error(`the checkpoint is for chain ${report.chain}, not ${chain}`);
  printReport(report, options.json);
}

export async function runAuditVerify(chain: string | undefined, options: AuditVerifyOptions): Promise<void> {
  if (options.keys !== undefined) {
    await verifyOffline(chain, { ...options, keys: options.keys });
    return;
  }
  if (chain === undefined) throw new CommandUsageError("name the chain to verify (a domain id, or 'platform'), or verify a mirror or checkpoint offline with --keys");
  const checkpoint = options.checkpoint === undefined ? undefined : await readCheckpointFile(options.checkpoint);
  const report = await withDatabase(async (db, config) => {
    await requireChain(db, config, chain);
    const started = Date.now();
    const showProgress = process.stderr.isTTY;
    const walk = (signer?: AuditKeyVerifier) => ({
      ...(checkpoint === undefined ? {} : { checkpoint }),
      ...(signer === undefined ? {} : { signer }),
      progressEvery: 50_000,
      onProgress: (rows: number) => {
        if (showProgress) {
          const seconds = (Date.now() - started) / 1000;
          process.stderr.write(`\rverified ${String(rows)} rows (${Math.round(rows / Math.max(seconds, 0.001)).toString()} rows/s)`);
        }
      },
    });
    // With a mirror, each row is compared with the mirror's on this thread; without, the
    // database's pages are checked on worker threads.
    const verify = (signer?: AuditKeyVerifier) =>
      options.mirror === undefined || signer === undefined
        ? verifyAuditChain(db, chain, walk(signer))
        : verifyChain({ chain, records: streamRecordPages(db, chain, { pageSize: 5000 }), mirror: readMirror(options.mirror, signer, chain), ...walk(signer) });
    // Public keys are needed only to check what was signed: a checkpoint or a mirror.
    return checkpoint === undefined && options.mirror === undefined ? verify() : databaseVerifier(db, config, verify);
  }, { existing: true });
  if (process.stderr.isTTY) process.stderr.write("\n");
  printReport(report, options.json);
}

export async function runAuditExport(chain: string, options: { out: string }): Promise<void> {
  const result = await withDatabase(async (db, config) => {
    await requireChain(db, config, chain);
    return withAuditSigner(db, config, (signer) => exportMirror(db, signer, chain, options.out));
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
    return withAuditSigner(db, config, (signer) => signCheckpoint(db, signer, chain));
  }, { existing: true });
  console.log(JSON.stringify(checkpoint, null, 2));
}

const KEY_COLUMNS = [
  { header: "KID", value: (key: AuditPublicJwk) => key.kid },
  { header: "STATUS", value: (key: AuditPublicJwk) => key.status },
  { header: "VALID FROM", value: (key: AuditPublicJwk) => key.valid_from ?? "(before registration)" },
  { header: "VALID UNTIL", value: (key: AuditPublicJwk) => key.valid_until },
] as const;

/** The public audit keys (what GET /v1/audit/keys serves): from the store, or from `--url`. */
export async function runAuditKeys(options: { url?: string; json?: boolean }): Promise<void> {
  const jwks: AuditJwks = options.url === undefined
    ? await withDatabase(async (db) => ({ keys: (await registeredAuditKeys(db)).map(publicJwkOf) }), { existing: true })
    : await readJwks(`${options.url.endsWith("/") ? options.url.slice(0, -1) : options.url}/v1/audit/keys`);
  printResult(jwks, options, (body) => formatTable(body.keys, KEY_COLUMNS));
}

/** A new active audit key; the old one is retired and stays published. Audited on the platform chain. */
export async function runAuditRotateKey(): Promise<void> {
  const rotated = await withDatabase(async (db, config) => {
    const backend = await openSecretBackend(config);
    try {
      return await rotateAuditKey({
        db,
        file: config.auditKeyFile,
        wrapper: backend,
        actor: auditActor.localOperator(os.userInfo().username),
        requestId: `cli-${randomUUID()}`,
      });
    } finally {
      await backend.close();
    }
  }, { existing: true });
  console.error(`audit key ${rotated.retired_key_id} retired at ${rotated.at}; ${rotated.key_id} signs from now (recorded on the platform audit chain); servers sharing the key file sign with the new key from their next signature`);
  console.log(JSON.stringify(rotated));
}
