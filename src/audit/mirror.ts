import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import type { Database } from "../platform/db/database.ts";
import type { AuditKeyVerifier, AuditSigner } from "./audit-signer.ts";
import type { ChainedAuditRecord } from "./audit-record.ts";
import { readRecords, streamRecordPages } from "./audit-store.ts";
import { MirrorIntegrityError, verifyChain, type VerificationReport } from "./audit-verifier.ts";
import { signDocument, verifyDocumentSignature, type SignedCheckpoint } from "./checkpoints.ts";
import { replaceFileAtomically } from "../platform/durable-files.ts";

/**
 * A mirror is a directory an auditor keeps away from the database: chain segments as JSON
 * lines under `segments/`, and `manifest.json` listing them with their SHA-256 and the
 * head, signed with the audit key. Exports only ever add segments.
 */
export const MIRROR_FORMAT = "custos-audit-mirror/v1";
const MANIFEST = "manifest.json";
const SEGMENT_ROWS = 100_000;

export interface MirrorSegment {
  readonly file: string;
  readonly first_seq: number;
  readonly last_seq: number;
  readonly last_hash: string;
  readonly sha256: string;
}

export interface MirrorManifest {
  readonly format: typeof MIRROR_FORMAT;
  readonly chain: string;
  readonly head: { readonly seq: number; readonly hash: string } | null;
  readonly segments: readonly MirrorSegment[];
  readonly updated_at: string;
  readonly key_id: string;
  readonly alg: "EdDSA";
  readonly signature: string;
}

export class MirrorError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MirrorError";
  }
}

async function readManifest(dir: string): Promise<MirrorManifest | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dir, MANIFEST), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new MirrorError(`cannot read ${path.join(dir, MANIFEST)}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new MirrorError(`${path.join(dir, MANIFEST)} is not JSON`, { cause: error });
  }
  const manifest = parsed as Partial<MirrorManifest> | null;
  if (manifest === null || typeof manifest !== "object" || manifest.format !== MIRROR_FORMAT || !Array.isArray(manifest.segments)) {
    throw new MirrorError(`${path.join(dir, MANIFEST)} is not a Custos audit mirror manifest`);
  }
  return manifest as MirrorManifest;
}

/**
 * The seq a mirror's manifest says it holds up to: 0 for a mirror not yet written (or an empty
 * chain's). Unverified: it only says whether an export is due; the export checks the signature.
 */
export async function mirroredSeq(dir: string): Promise<number> {
  return (await readManifest(dir))?.head?.seq ?? 0;
}

export interface ExportResult {
  readonly chain: string;
  readonly rows_written: number;
  readonly segments_written: number;
  readonly head: { readonly seq: number; readonly hash: string } | null;
}

/**
 * Appends to the mirror in `dir` what the chain holds beyond the mirror's head. Refuses to
 * extend a mirror whose manifest does not verify or whose head the database no longer
 * agrees with: that disagreement is evidence, and an export must not paper over it.
 */
export async function exportMirror(
  db: Database,
  signer: AuditSigner,
  chain: string,
  dir: string,
  options: { clock?: () => Date; segmentRows?: number } = {},
): Promise<ExportResult> {
  const clock = options.clock ?? (() => new Date());
  const segmentRows = options.segmentRows ?? SEGMENT_ROWS;
  await mkdir(path.join(dir, "segments"), { recursive: true });
  const existing = await readManifest(dir);
  if (existing !== undefined) {
    if (existing.chain !== chain) throw new MirrorError(`${dir} mirrors chain ${existing.chain}, not ${chain}`);
    if (!(await verifyDocumentSignature(signer, existing))) {
      throw new MirrorError(`the manifest in ${dir} does not verify with the audit key; refusing to extend it`);
    }
    if (existing.head !== null) {
      const [atHead] = await readRecords(db, chain, existing.head.seq - 1, 1);
      if (atHead?.seq !== existing.head.seq || atHead.hash !== existing.head.hash) {
        throw new MirrorError(
          `the database no longer agrees with the mirror at seq ${String(existing.head.seq)}; run custos audit verify --mirror ${dir}`,
        );
      }
    }
  }

  const segments = [...(existing?.segments ?? [])];
  let head = existing?.head ?? null;
  let rowsWritten = 0;
  let segmentsWritten = 0;
  let lines: string[] = [];
  let first: ChainedAuditRecord | undefined;
  let last: ChainedAuditRecord | undefined;

  const flushSegment = async (): Promise<void> => {
    if (first === undefined || last === undefined) return;
    const content = lines.join("");
    const file = `segments/${chain}-${String(first.seq).padStart(12, "0")}-${String(last.seq).padStart(12, "0")}.jsonl`;
    await replaceFileAtomically(path.join(dir, file), content, 0o644);
    segments.push({
      file,
      first_seq: first.seq,
      last_seq: last.seq,
      last_hash: last.hash,
      sha256: createHash("sha256").update(content).digest("hex"),
    });
    head = { seq: last.seq, hash: last.hash };
    segmentsWritten += 1;
    lines = [];
    first = undefined;
  };

  for await (const page of streamRecordPages(db, chain, { afterSeq: head?.seq ?? 0 })) {
    for (const record of page) {
      first ??= record;
      last = record;
      lines.push(`${JSON.stringify(record)}\n`);
      rowsWritten += 1;
      if (lines.length >= segmentRows) await flushSegment();
    }
  }
  await flushSegment();

  if (segmentsWritten > 0 || existing === undefined) {
    const manifest = await signDocument(signer, {
      format: MIRROR_FORMAT,
      chain,
      head,
      segments,
      updated_at: clock().toISOString(),
    });
    await replaceFileAtomically(path.join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
  }
  return { chain, rows_written: rowsWritten, segments_written: segmentsWritten, head };
}

/**
 * Streams the mirror's rows in seq order after checking its manifest's signature; a segment
 * whose bytes are not those the manifest signed, or rows out of order, raise
 * MirrorIntegrityError naming the first seq concerned.
 */
export async function* readMirror(dir: string, signer: AuditKeyVerifier, chain: string): AsyncGenerator<ChainedAuditRecord> {
  const manifest = await readManifest(dir);
  if (manifest === undefined) throw new MirrorError(`${dir} holds no ${MANIFEST}`);
  if (manifest.chain !== chain) throw new MirrorError(`${dir} mirrors chain ${manifest.chain}, not ${chain}`);
  if (!(await verifyDocumentSignature(signer, manifest))) {
    throw new MirrorIntegrityError("bad_signature", manifest.head?.seq ?? 0, "the mirror manifest's signature does not verify with the audit key");
  }
  let expectedSeq = 1;
  for (const segment of manifest.segments) {
    if (segment.first_seq !== expectedSeq || !/^segments\/[A-Za-z0-9._-]+\.jsonl$/.test(segment.file)) {
      throw new MirrorIntegrityError("mirror_divergence", expectedSeq, "the mirror's segments do not follow each other");
    }
    const digest = createHash("sha256");
    let lastHash: string | undefined;
    const lines = createInterface({ input: createReadStream(path.join(dir, segment.file), "utf8"), crlfDelay: Infinity });
    for await (const line of lines) {
      digest.update(`${line}\n`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw new MirrorIntegrityError("mirror_divergence", expectedSeq, `a line of ${segment.file} is not JSON`);
      }
      if (!isRecordShaped(parsed)) {
        throw new MirrorIntegrityError("mirror_divergence", expectedSeq, `a line of ${segment.file} is not an audit record`);
      }
      const record = parsed;
      lastHash = record.hash;
      if (record.seq !== expectedSeq) {
        throw new MirrorIntegrityError("mirror_divergence", expectedSeq, `${segment.file} skips or repeats seq ${String(expectedSeq)}`);
      }
      yield record;
      expectedSeq += 1;
    }
    if (digest.digest("hex") !== segment.sha256 || expectedSeq - 1 !== segment.last_seq || lastHash !== segment.last_hash) {
      throw new MirrorIntegrityError("mirror_divergence", segment.first_seq, `${segment.file} is not the segment the manifest signed`);
    }
  }
}

const RECORD_STRINGS = ["chain", "at", "actor", "action", "resource", "decision", "reason", "request_id", "prev_hash", "hash"] as const;

/** The members a record must have to be hashed at all; whether they hash right is the verifier's. */
function isRecordShaped(value: unknown): value is ChainedAuditRecord {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  return Number.isSafeInteger(record.seq) &&
    RECORD_STRINGS.every((member) => typeof record[member] === "string") &&
    record.details !== null && typeof record.details === "object" && !Array.isArray(record.details);
}

/**
 * The mirror's rows as pages of one, for the verifier to walk as it walks the database's: each
 * row is checked as soon as it is read, so an edited row is named before its segment's digest
 * (checked at the segment's end) fails.
 */
async function* pagesOf(records: AsyncIterable<ChainedAuditRecord>): AsyncGenerator<readonly ChainedAuditRecord[]> {
  for await (const record of records) yield [record];
}

/**
 * Verifies a mirror on its own, with public keys only: no database, no secret backend, no
 * private key. The manifest's signature (by a key of `verifier`, valid when the manifest was
 * written), every segment's SHA-256, range and last hash, every row's link and hash from the
 * chain's genesis, the manifest's head, and, when given, a checkpoint (its signature, and the
 * row at its seq).
 */
export async function verifyMirrorOffline(
  dir: string,
  verifier: AuditKeyVerifier,
  options: { readonly chain?: string; readonly checkpoint?: SignedCheckpoint } = {},
): Promise<VerificationReport> {
  const manifest = await readManifest(dir);
  if (manifest === undefined) throw new MirrorError(`${dir} holds no ${MANIFEST}`);
  const chain = options.chain ?? manifest.chain;
  if (manifest.chain !== chain) throw new MirrorError(`${dir} mirrors chain ${manifest.chain}, not ${chain}`);
  const report = await verifyChain({
    chain,
    records: pagesOf(readMirror(dir, verifier, chain)),
    ...(options.checkpoint === undefined ? {} : { checkpoint: options.checkpoint }),
    signer: verifier,
    source: "mirror",
  });
  if (!report.ok) return report;
  const head = report.head === null ? null : { seq: report.head.seq, hash: report.head.hash };
  if (head?.seq !== manifest.head?.seq || head?.hash !== manifest.head?.hash) {
    return {
      ...report,
      ok: false,
      failure: { kind: "mirror_divergence", seq: head?.seq ?? 0, detail: "the mirror's last row is not the head its signed manifest names" },
    };
  }
  return report;
}
