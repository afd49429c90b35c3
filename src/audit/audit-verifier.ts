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

/** The head a report names: the last row that passed. */
type Head = NonNullable<VerificationReport["head"]>;

/** The part of a signed checkpoint a page is checked against. */
export interface CheckpointMark {
  readonly seq: number;
  readonly hash: string;
}

/**
 * One page of a chain checked on its own, in seq order, as checkRows does it. Everything but
 * how its first row links to the page before (its seq, its prev_hash), which only the walk
 * knows: verifyCheckedPages checks that, then takes the page's outcome.
 */
export interface PageCheck {
  /** The first row's seq and prev_hash; null for a page without rows. */
  readonly first: { readonly seq: number; readonly prev_hash: string } | null;
  /** How many rows, from the first, passed before `failure` (all of them without one). */
  readonly passed: number;
  /** The last row that passed, or null. */
  readonly last: Head | null;
  /** The first failure in the page, in the order verifyChain describes. */
  readonly failure: VerificationFailure | null;
  /** Whether a row at the checkpoint's seq was reached (and compared with it). */
  readonly checkpointReached: boolean;
}

/**
 * Checks a page of rows in order: each row after the first follows the one before it (`gap`,
 * `broken_link`); every row belongs to `chain` and hashes to its stored hash
 * (`hash_mismatch`), and the row at the checkpoint's seq has its hash (`checkpoint_mismatch`).
 * Pure and synchronous: the same function runs on this thread and on verification workers.
 */
export function checkRows(chain: string, rows: readonly ChainedAuditRecord[], checkpoint?: CheckpointMark): PageCheck {
  let last: Head | null = null;
  let checkpointReached = false;
  const outcome = (passed: number, failure: VerificationFailure | null): PageCheck => {
    const first = rows[0];
    return { first: first === undefined ? null : { seq: first.seq, prev_hash: first.prev_hash }, passed, last, failure, checkpointReached };
  };
  for (const [index, record] of rows.entries()) {
    if (last !== null) {
      const expectedSeq: number = last.seq + 1;
      if (record.seq !== expectedSeq) {
        return outcome(index, { kind: "gap", seq: expectedSeq, detail: `seq ${String(expectedSeq)} is missing; the next row is seq ${String(record.seq)}` });
      }
      if (record.prev_hash !== last.hash) return outcome(index, { kind: "broken_link", seq: record.seq, detail: "prev_hash is not the previous row's hash" });
    }
    if (record.chain !== chain || hashCanonicalRecord(record.prev_hash, canonicalRecordText(record)) !== record.hash) {
      return outcome(index, { kind: "hash_mismatch", seq: record.seq, detail: "the row's content does not hash to its stored hash" });
    }
    if (checkpoint !== undefined && record.seq === checkpoint.seq) {
      checkpointReached = true;
      if (record.hash !== checkpoint.hash) {
        return outcome(index, { kind: "checkpoint_mismatch", seq: record.seq, detail: "the row's hash differs from the signed checkpoint" });
      }
    }
    last = { seq: record.seq, hash: record.hash, at: record.at };
  }
  return outcome(rows.length, null);
}

interface VerifyOptions {
  readonly chain: string;
  /** A checkpoint kept outside the database, and the key to check its signature. */
  readonly checkpoint?: SignedCheckpoint;
  readonly signer?: AuditKeyVerifier;
  readonly onProgress?: (rowsChecked: number) => void;
  readonly progressEvery?: number;
  readonly source?: VerificationReport["source"];
}

export interface VerifyChainInput extends VerifyOptions {
  /** The chain in seq order, streamed page by page: memory stays constant. */
  readonly records: AsyncIterable<readonly ChainedAuditRecord[]>;
  /** An exported mirror, streamed in seq order; it may throw MirrorIntegrityError. */
  readonly mirror?: AsyncIterable<ChainedAuditRecord>;
}

export interface VerifyCheckedPagesInput extends VerifyOptions {
  /**
   * The chain's pages in seq order, each already checked by checkRows against the
   * checkpoint's seq and hash (by verification workers, say). A page that cannot be checked
   * throws: the walk then rejects, it never reports the chain verified.
   */
  readonly pages: (checkpoint: CheckpointMark | undefined) => AsyncIterable<PageCheck>;
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
  const { chain, mirror } = input;
  if (mirror === undefined) {
    return verifyCheckedPages({ ...input, pages: (checkpoint) => checkEach(chain, input.records, checkpoint) });
  }
  const compare = mirrorComparison(mirror);
  return walkPages({ ...input, pages: (checkpoint) => compare.pages(chain, input.records, checkpoint) }, compare);
}

async function* checkEach(chain: string, records: AsyncIterable<readonly ChainedAuditRecord[]>, checkpoint: CheckpointMark | undefined): AsyncGenerator<PageCheck> {
  for await (const page of records) yield checkRows(chain, page, checkpoint);
}

/** A failure found by the mirror's own reader. */
class MirrorFailure extends Error {
  readonly failure: VerificationFailure;

  constructor(failure: VerificationFailure) {
    super(failure.detail);
    this.failure = failure;
  }
}

/**
 * The mirror, compared row by row with the rows that passed their own checks: a page's
 * outcome is cut at the first row that differs from the mirror's (`mirror_divergence`), or
 * at the row whose mirror line could not be read.
 */
function mirrorComparison(mirror: AsyncIterable<ChainedAuditRecord>) {
  const rows = mirror[Symbol.asyncIterator]();
  let done = false;
  let compared = 0;
  const next = async (atSeq: number): Promise<ChainedAuditRecord | undefined> => {
    if (done) return undefined;
    try {
      const row = await rows.next();
      if (row.done === true) {
        done = true;
        return undefined;
      }
      return row.value;
    } catch (error) {
      if (error instanceof MirrorIntegrityError) throw new MirrorFailure({ kind: error.kind, seq: error.seq, detail: error.message });
      throw new MirrorFailure({ kind: "mirror_divergence", seq: atSeq, detail: "the mirror cannot be read" });
    }
  };
  /** The page's outcome up to (not including) its row at `index`, failing with `failure` there. */
  const cut = (page: readonly ChainedAuditRecord[], check: PageCheck, index: number, failure: VerificationFailure, checkpoint: CheckpointMark | undefined): PageCheck => {
    const last = page[index - 1];
    const reached = page[index]?.seq ?? Number.POSITIVE_INFINITY;
    return {
      first: check.first,
      passed: index,
      last: last === undefined ? null : { seq: last.seq, hash: last.hash, at: last.at },
      failure,
      // The row at the checkpoint's seq is compared with the checkpoint before the mirror.
      checkpointReached: check.checkpointReached && checkpoint !== undefined && checkpoint.seq <= reached,
    };
  };
  return {
    get compared() {
      return compared;
    },
    async *pages(chain: string, records: AsyncIterable<readonly ChainedAuditRecord[]>, checkpoint: CheckpointMark | undefined): AsyncGenerator<PageCheck> {
      for await (const page of records) {
        const check = checkRows(chain, page, checkpoint);
        let outcome = check;
        for (let index = 0; index < check.passed && !done; index += 1) {
          const record = page[index] as ChainedAuditRecord;
          let mirrored: ChainedAuditRecord | undefined;
          try {
            mirrored = await next(record.seq);
          } catch (error) {
            if (!(error instanceof MirrorFailure)) throw error;
            outcome = cut(page, check, index, error.failure, checkpoint);
            break;
          }
          if (mirrored === undefined) break;
          if (mirrored.seq !== record.seq || fullRecordText(mirrored) !== fullRecordText(record)) {
            outcome = cut(page, check, index, { kind: "mirror_divergence", seq: record.seq, detail: "the database row differs from the mirror's" }, checkpoint);
            break;
          }
          compared += 1;
        }
        yield outcome;
      }
    },
    /** After the chain's last row: a mirror row beyond it means rows are missing from the chain. */
    async extra(expectedSeq: number): Promise<VerificationFailure | null> {
      let row: ChainedAuditRecord | undefined;
      try {
        row = await next(expectedSeq);
      } catch (error) {
        if (error instanceof MirrorFailure) return error.failure;
        throw error;
      }
      if (row === undefined) return null;
      return {
        kind: "mirror_divergence",
        seq: row.seq,
        detail: `the mirror holds seq ${String(row.seq)}, which the database does not: rows were removed or an older backup restored`,
      };
    },
  };
}

/**
 * verifyChain's walk over pages already checked on their own (checkRows): it checks how each
 * page's first row follows the page before (`gap`, `broken_link`, in that order and before
 * the page's own failure), then takes the page's outcome. Exported for verification on
 * worker threads (verification-workers.ts).
 */
export async function verifyCheckedPages(input: VerifyCheckedPagesInput): Promise<VerificationReport> {
  return walkPages(input, undefined);
}

async function walkPages(input: VerifyCheckedPagesInput, mirror: ReturnType<typeof mirrorComparison> | undefined): Promise<VerificationReport> {
  const { chain, checkpoint } = input;
  const progressEvery = input.progressEvery ?? 100_000;
  let rowsChecked = 0;
  let head: VerificationReport["head"] = null;
  let checkpointChecked = false;

  const report = (failure: VerificationFailure | null): VerificationReport => ({
    chain,
    ok: failure === null,
    rows_checked: rowsChecked,
    head,
    checkpoint: checkpoint === undefined ? null : { seq: checkpoint.seq, hash: checkpoint.hash, checked: checkpointChecked },
    mirror: mirror === undefined ? null : { rows_compared: mirror.compared },
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

  let expectedSeq = 1;
  let prevHash = genesisHash(chain);
  const mark = checkpoint === undefined ? undefined : { seq: checkpoint.seq, hash: checkpoint.hash };
  // The rows themselves may come from a mirror (offline verification), whose reader raises
  // MirrorIntegrityError when a segment is not what the signed manifest says.
  try {
    for await (const page of input.pages(mark)) {
      if (page.first === null) continue;
      if (page.first.seq !== expectedSeq) {
        return report({ kind: "gap", seq: expectedSeq, detail: `seq ${String(expectedSeq)} is missing; the next row is seq ${String(page.first.seq)}` });
      }
      if (page.first.prev_hash !== prevHash) {
        return report({ kind: "broken_link", seq: page.first.seq, detail: "prev_hash is not the previous row's hash" });
      }
      const before = rowsChecked;
      rowsChecked += page.passed;
      if (page.last !== null) head = page.last;
      if (page.checkpointReached) checkpointChecked = true;
      if (input.onProgress !== undefined) {
        for (let at = (Math.floor(before / progressEvery) + 1) * progressEvery; at <= rowsChecked; at += progressEvery) input.onProgress(at);
      }
      if (page.failure !== null) return report(page.failure);
      if (head !== null) {
        prevHash = head.hash;
        expectedSeq = head.seq + 1;
      }
    }
  } catch (error) {
    if (error instanceof MirrorIntegrityError) return report({ kind: error.kind, seq: error.seq, detail: error.message });
    if (error instanceof MirrorFailure) return report(error.failure);
    throw error;
  }

  if (checkpoint !== undefined && checkpoint.seq > (head?.seq ?? 0)) {
    return report({
      kind: "checkpoint_mismatch",
      seq: checkpoint.seq,
      detail: `the chain ends at seq ${String(head?.seq ?? 0)}, before the signed checkpoint: rows were removed or an older backup restored`,
    });
  }
  const extra = await mirror?.extra(expectedSeq);
  if (extra !== undefined && extra !== null) return report(extra);
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
