import canonicalize from "canonicalize";
import type { AuditKeyVerifier } from "./audit-signer.ts";
import { canonicalRecordText, genesisHash, hashCanonicalRecord, type ChainedAuditRecord } from "./audit-record.ts";
import { verifyDocumentSignature, type SignedCheckpoint } from "./checkpoints.ts";

export type VerificationFailureKind =
  | "hash_mismatch"
  | "broken_link"
  | "gap"
  | "checkpoint_mismatch"
  | "bad_signature"
  | "mirror_divergence";

export interface VerificationFailure {
  readonly kind: VerificationFailureKind;
  /** The first sequence number at which the failure shows. */
  readonly seq: number;
  readonly detail: string;
}

export interface VerificationReport {
  readonly chain: string;
  readonly ok: boolean;
  readonly rows_checked: number;
  readonly head: { readonly seq: number; readonly hash: string; readonly at: string } | null;
  readonly checkpoint: { readonly seq: number; readonly hash: string; readonly checked: boolean } | null;
  readonly mirror: { readonly rows_compared: number } | null;
  readonly failure: VerificationFailure | null;
  /** What was walked: the database's rows, or (offline, with public keys only) a mirror's. */
  readonly source?: "database" | "mirror" | "checkpoint";
}

/** Raised by a mirror reader when the mirror itself is not what its signed manifest says. */
export class MirrorIntegrityError extends Error {
  readonly kind: "bad_signature" | "mirror_divergence";
  readonly seq: number;

  constructor(kind: "bad_signature" | "mirror_divergence", seq: number, detail: string) {
    super(detail);
    this.name = "MirrorIntegrityError";
    this.kind = kind;
    this.seq = seq;
  }
}

export interface VerifyChainInput {
  readonly chain: string;
  /** The chain in seq order, streamed page by page: memory stays constant. */
  readonly records: AsyncIterable<readonly ChainedAuditRecord[]>;
  /** A checkpoint kept outside the database, and the key to check its signature. */
  readonly checkpoint?: SignedCheckpoint;
  /** An exported mirror, streamed in seq order; it may throw MirrorIntegrityError. */
  readonly mirror?: AsyncIterable<ChainedAuditRecord>;
  readonly signer?: AuditKeyVerifier;
  readonly onProgress?: (rowsChecked: number) => void;
  readonly progressEvery?: number;
  readonly source?: VerificationReport["source"];
}

function fullRecordText(record: ChainedAuditRecord): string {
  return canonicalize(record) ?? "";
}

/**
 * Walks one chain and reports the first failure, in seq order. Per row: the seq follows
 * the previous one (`gap`), the row links to the previous hash or the genesis value
 * (`broken_link`), its hash is the hash of its content (`hash_mismatch`), it equals a
 * held checkpoint at that seq (`checkpoint_mismatch`), and it equals the mirror's row
 * (`mirror_divergence`). A chain that ends before a checkpoint's seq was rolled back
 * (a restored backup, a deleted tail) and fails at the checkpoint's seq.
 */
export async function verifyChain(input: VerifyChainInput): Promise<VerificationReport> {
  const { chain, checkpoint } = input;
  const progressEvery = input.progressEvery ?? 100_000;
  let rowsChecked = 0;
  let head: VerificationReport["head"] = null;
  let mirrorCompared = 0;
  let checkpointChecked = false;

  const report = (failure: VerificationFailure | null): VerificationReport => ({
    chain,
    ok: failure === null,
    rows_checked: rowsChecked,
    head,
    checkpoint: checkpoint === undefined ? null : { seq: checkpoint.seq, hash: checkpoint.hash, checked: checkpointChecked },
    mirror: input.mirror === undefined ? null : { rows_compared: mirrorCompared },
    failure,
    ...(input.source === undefined ? {} : { source: input.source }),
  });

  if (checkpoint !== undefined) {
    if (checkpoint.chain !== chain) {
      return report({ kind: "checkpoint_mismatch", seq: checkpoint.seq, detail: `the checkpoint is for chain ${checkpoint.chain}` });
    }
    const signer = input.signer;
    if (signer === undefined || !(await verifyDocumentSignature(signer, checkpoint))) {
      return report({ kind: "bad_signature", seq: checkpoint.seq, detail: "the checkpoint's signature does not verify with the audit key" });
    }
    if (checkpoint.seq === 0) {
      checkpointChecked = true;
      if (checkpoint.hash !== genesisHash(chain)) {
        return report({ kind: "checkpoint_mismatch", seq: 0, detail: "the checkpoint's genesis hash is not this chain's" });
      }
    }
  }

  const mirror = input.mirror?.[Symbol.asyncIterator]();
  let mirrorDone = mirror === undefined;
  const nextMirrorRecord = async (atSeq: number): Promise<ChainedAuditRecord | VerificationFailure | undefined> => {
    if (mirror === undefined || mirrorDone) return undefined;
    try {
      const next = await mirror.next();
      if (next.done === true) {
        mirrorDone = true;
        return undefined;
      }
      return next.value;
    } catch (error) {
      if (error instanceof MirrorIntegrityError) return { kind: error.kind, seq: error.seq, detail: error.message };
      return { kind: "mirror_divergence", seq: atSeq, detail: "the mirror cannot be read" };
    }
  };
  const isFailure = (value: unknown): value is VerificationFailure =>
    typeof value === "object" && value !== null && "kind" in value;

  let expectedSeq = 1;
  let prevHash = genesisHash(chain);
  // The rows themselves may come from a mirror (offline verification), whose reader raises
  // MirrorIntegrityError when a segment is not what the signed manifest says.
  try {
    for await (const page of input.records) {
      for (const record of page) {
        if (record.seq !== expectedSeq) {
          return report({ kind: "gap", seq: expectedSeq, detail: `seq ${String(expectedSeq)} is missing; the next row is seq ${String(record.seq)}` });
        }
        if (record.prev_hash !== prevHash) {
          return report({ kind: "broken_link", seq: record.seq, detail: "prev_hash is not the previous row's hash" });
        }
        if (record.chain !== chain || hashCanonicalRecord(record.prev_hash, canonicalRecordText(record)) !== record.hash) {
          return report({ kind: "hash_mismatch", seq: record.seq, detail: "the row's content does not hash to its stored hash" });
        }
        if (checkpoint !== undefined && record.seq === checkpoint.seq) {
          checkpointChecked = true;
          if (record.hash !== checkpoint.hash) {
            return report({ kind: "checkpoint_mismatch", seq: record.seq, detail: "the row's hash differs from the signed checkpoint" });
          }
        }
        if (mirror !== undefined && !mirrorDone) {
          const mirrored = await nextMirrorRecord(record.seq);
          if (isFailure(mirrored)) return report(mirrored);
          if (mirrored !== undefined) {
            if (mirrored.seq !== record.seq || fullRecordText(mirrored) !== fullRecordText(record)) {
              return report({ kind: "mirror_divergence", seq: record.seq, detail: "the database row differs from the mirror's" });
            }
            mirrorCompared += 1;
          }
        }
        rowsChecked += 1;
        head = { seq: record.seq, hash: record.hash, at: record.at };
        prevHash = record.hash;
        expectedSeq += 1;
        if (input.onProgress !== undefined && rowsChecked % progressEvery === 0) input.onProgress(rowsChecked);
      }
    }
  } catch (error) {
    if (error instanceof MirrorIntegrityError) return report({ kind: error.kind, seq: error.seq, detail: error.message });
    throw error;
  }

  if (checkpoint !== undefined && checkpoint.seq > (head?.seq ?? 0)) {
    return report({
      kind: "checkpoint_mismatch",
      seq: checkpoint.seq,
      detail: `the chain ends at seq ${String(head?.seq ?? 0)}, before the signed checkpoint: rows were removed or an older backup restored`,
    });
  }
  if (mirror !== undefined && !mirrorDone) {
    const extra = await nextMirrorRecord(expectedSeq);
    if (isFailure(extra)) return report(extra);
    if (extra !== undefined) {
      return report({
        kind: "mirror_divergence",
        seq: extra.seq,
        detail: `the mirror holds seq ${String(extra.seq)}, which the database does not: rows were removed or an older backup restored`,
      });
    }
  }
  return report(null);
}

/**
 * A checkpoint on its own, with public keys only: its signature by a key valid when it was
 * signed. No chain is walked, so `checkpoint.checked` stays false.
 */
export async function verifyCheckpointOffline(checkpoint: SignedCheckpoint, verifier: AuditKeyVerifier): Promise<VerificationReport> {
  const ok = await verifyDocumentSignature(verifier, checkpoint);
  return {
    chain: checkpoint.chain,
    ok,
    rows_checked: 0,
    head: null,
    checkpoint: { seq: checkpoint.seq, hash: checkpoint.hash, checked: false },
    mirror: null,
    failure: ok ? null : { kind: "bad_signature", seq: checkpoint.seq, detail: "the checkpoint's signature does not verify with the given keys" },
    source: "checkpoint",
  };
}
