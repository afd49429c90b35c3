import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import type { AuditDecision } from "./audit-port.ts";

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

/** RFC 8785 canonical JSON of the record without its hash: the bytes the hash covers. */
export function canonicalRecordBytes(record: AuditRecord): Buffer {
  const unhashed: AuditRecord = {
    chain: record.chain,
    seq: record.seq,
    at: record.at,
    actor: record.actor,
    action: record.action,
    resource: record.resource,
    decision: record.decision,
    reason: record.reason,
    request_id: record.request_id,
    details: record.details,
    prev_hash: record.prev_hash,
  };
  const text = canonicalize(unhashed);
  if (text === undefined) throw new TypeError("audit record cannot be canonicalised");
  return Buffer.from(text, "utf8");
}

/** hash = SHA-256(prev_hash || JCS(record)), prev_hash taken as its 32 raw bytes. */
export function hashCanonicalRecord(prevHash: string, canonical: Buffer): string {
  return createHash("sha256").update(Buffer.from(prevHash, "hex")).update(canonical).digest("hex");
}

export function computeRecordHash(record: AuditRecord): string {
  return hashCanonicalRecord(record.prev_hash, canonicalRecordBytes(record));
}

export function chainRecord(record: AuditRecord): ChainedAuditRecord {
  return { ...record, hash: computeRecordHash(record) };
}
