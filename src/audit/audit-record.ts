import { createHash, hash as sha } from "node:crypto";
import type { AuditDecision } from "./audit-port.ts";
import { canonicalJson } from "./canonical-json.ts";

/**
 * One event as it sits in its chain. Every field except `hash` is covered by the hash, so
 * changing any of them (or moving the event to another seq or chain) is detected.
 */
export interface AuditRecord {
  readonly chain: string;
  readonly seq: number;
  /** ISO 8601 in UTC with millisecond precision, exactly as hashed. */
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly resource: string;
  readonly decision: AuditDecision;
  readonly reason: string;
  readonly request_id: string;
  readonly details: Readonly<Record<string, unknown>>;
  readonly prev_hash: string;
}

export interface ChainedAuditRecord extends AuditRecord {
  readonly hash: string;
}

const GENESIS_PREFIX = "custos/audit/genesis/v1:";

/** What the first event of a chain links to: fixed, and different for every chain name. */
export function genesisHash(chain: string): string {
  return createHash("sha256").update(GENESIS_PREFIX + chain).digest("hex");
}

/**
 * RFC 8785 canonical JSON of the record without its hash: the bytes the hash covers.
 *
 * The record's members are fixed, so they are written directly in JCS order (keys sorted by
 * UTF-16 code units; strings as ECMAScript JSON.stringify writes them, which is what JCS
 * specifies); only `details`, whose shape varies, goes through a canonicaliser
 * (canonicalJson: a shortcut for plain JSON values, the general one for anything else).
 * This is several times faster than canonicalising the whole record, and unit tests hold
 * it equal to the general canonicaliser's output.
 */
export function canonicalRecordBytes(record: AuditRecord): Buffer {
  return Buffer.from(canonicalRecordText(record), "utf8");
}

/** The same canonical JSON as a string (hashed as UTF-8 without an intermediate Buffer). */
export function canonicalRecordText(record: AuditRecord): string {
  if (!Number.isSafeInteger(record.seq)) throw new TypeError("audit record seq must be a safe integer");
  const details = canonicalJson(record.details);
  if (details === undefined) throw new TypeError("audit record details cannot be canonicalised");
  const text =
    `{"action":${JSON.stringify(record.action)},"actor":${JSON.stringify(record.actor)},"at":${JSON.stringify(record.at)}` +
    `,"chain":${JSON.stringify(record.chain)},"decision":${JSON.stringify(record.decision)},"details":${details}` +
    `,"prev_hash":${JSON.stringify(record.prev_hash)},"reason":${JSON.stringify(record.reason)}` +
    `,"request_id":${JSON.stringify(record.request_id)},"resource":${JSON.stringify(record.resource)},"seq":${String(record.seq)}}`;
  return text;
}

/**
 * Where a record's hashed bytes are assembled: prev_hash's 32 raw bytes, then the canonical
 * JSON as UTF-8. One reused buffer and one one-shot digest cost a third of a Hash object with
 * two updates (each module instance, so each worker thread, has its own).
 */
const hashInput = Buffer.allocUnsafe(16 * 1024);

/** hash = SHA-256(prev_hash || JCS(record)), prev_hash taken as its 32 raw bytes. */
export function hashCanonicalRecord(prevHash: string, canonical: Buffer | string): string {
  // Room for the record whatever its characters (at most 3 UTF-8 bytes per UTF-16 unit), so
  // the text is encoded once, by the write. A prev_hash that is not 64 hex digits writes
  // fewer than 32 bytes; it and a larger record take the general path, which hashes exactly
  // what it always did.
  const room = hashInput.length - 32;
  const fits = typeof canonical === "string" ? canonical.length * 3 <= room : canonical.length <= room;
  if (fits && prevHash.length === 64 && hashInput.write(prevHash, 0, 32, "hex") === 32) {
    const length = typeof canonical === "string" ? hashInput.write(canonical, 32, "utf8") : canonical.copy(hashInput, 32);
    return sha("sha256", hashInput.subarray(0, 32 + length), "hex");
  }
  const hash = createHash("sha256").update(prevHash, "hex");
  return (typeof canonical === "string" ? hash.update(canonical, "utf8") : hash.update(canonical)).digest("hex");
}

export function computeRecordHash(record: AuditRecord): string {
  return hashCanonicalRecord(record.prev_hash, canonicalRecordBytes(record));
}

export function chainRecord(record: AuditRecord): ChainedAuditRecord {
  return { ...record, hash: computeRecordHash(record) };
}
