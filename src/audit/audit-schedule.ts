import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Database } from "../platform/db/database.ts";
import { publishFileExclusively } from "../platform/durable-files.ts";
import type { AuditKeyring } from "./audit-keys.ts";
import type { AuditSigner } from "./audit-signer.ts";
import { readChainStatuses, tryTransactionLock, type ChainCheckpointStatus } from "./audit-store.ts";
import { signCheckpoint, type SignedCheckpoint } from "./checkpoints.ts";
import { exportMirror, mirroredSeq, type ExportResult } from "./mirror.ts";

/**
 * Scheduled checkpoints, witness files and mirrors (docs/design.md, "Scheduled checkpoints and
 * mirrors"). Every replica ticks; at each tick it reads every chain's head and latest
 * checkpoint, and signs each chain that is due in a transaction that first takes a
 * transaction-scoped advisory lock at once or gives up: of replicas ticking together exactly
 * one signs a chain, and the others, reading it again after that commit, find it not due. The mirror
 * export, which outlives any transaction, runs under a session advisory lock of its own.
 */

/** How often each replica looks: the "every N records" rule is checked this often. */
export const AUDIT_SCHEDULE_TICK_MS = 30_000;
/** pg_try_advisory_xact_lock key of the checkpoint job ("custos-c" would not fit in an int4 key; any fixed value does). */
export const CHECKPOINT_JOB_LOCK_KEY = 7_415_101;
/** pg_try_advisory_lock key of the mirror job. */
export const MIRROR_JOB_LOCK_KEY = 7_415_102;
/** At most this many chains are signed at one tick; the rest are due at the next. */
export const MAX_CHECKPOINTS_PER_TICK = 500;
/** Witness files whose write failed are retried at each tick; beyond this many the oldest are dropped. */
const MAX_PENDING_WITNESS_FILES = 10_000;

export interface CheckpointPolicy {
  /** A chain whose head moved is due once this long has passed since its last checkpoint. */
  readonly intervalSeconds: number;
  /** …or as soon as its head moved this many records past it. */
  readonly everyRecords: number | undefined;
}

/**
 * Whether a chain is due for a scheduled checkpoint at `nowMs`. A chain never checkpointed is
 * due as soon as it has a record; a chain whose head has not moved past its last checkpoint
 * never is (an unchanged head needs no new signature); otherwise it is due once it moved
 * `everyRecords` or more, or once `intervalSeconds` passed since its last checkpoint.
 */
export function isCheckpointDue(status: ChainCheckpointStatus, policy: CheckpointPolicy, nowMs: number): boolean {
  if (status.checkpoint === undefined) return status.headSeq > 0;
  const moved = status.headSeq - status.checkpoint.seq;
  if (moved <= 0) return false;
  if (policy.everyRecords !== undefined && moved >= policy.everyRecords) return true;
  return nowMs - Date.parse(status.checkpoint.signedAt) >= policy.intervalSeconds * 1000;
}

/** `<chain>-<seq, 12 digits>.json`: one file per chain and seq, sorted by seq within a chain. */
export function witnessFileName(checkpoint: Pick<SignedCheckpoint, "chain" | "seq">): string {
  return `${checkpoint.chain}-${String(checkpoint.seq).padStart(12, "0")}.json`;
}

export type AuditJob = "checkpoint" | "witness" | "mirror";

export interface AuditScheduleOptions {
  readonly db: Database;
  readonly keys: Pick<AuditKeyring, "signingKey">;
  readonly policy: CheckpointPolicy;
  /** Every scheduled checkpoint is also written here, never overwriting a file. */
  readonly witnessDir?: string | undefined;
  /** Each chain's mirror, in `<mirrorDir>/<chain>/`, is kept up to its latest checkpoint. */
  readonly mirrorDir?: string | undefined;
  readonly clock?: () => Date;
  /** How often the timer ticks; tests drive `tick()` themselves. */
  readonly tickMs?: number;
  /** A job that failed; it is tried again at the next tick. Never thrown. */
  readonly onError: (job: AuditJob, error: unknown) => void;
  /** Every chain's latest checkpoint as this tick saw it (for /metrics). */
  readonly onStatus?: (statuses: readonly ChainCheckpointStatus[]) => void;
}

export interface AuditTickResult {
  /** The checkpoints this replica signed at this tick. */
  readonly signed: readonly SignedCheckpoint[];
  /** The witness files written at this tick (earlier failures included). */
  readonly witnessed: readonly string[];
  readonly mirrored: readonly ExportResult[];
}

export interface AuditSchedule {
  /** One tick now, after any tick in progress; resolves (never rejects) with what it did. */
  tick(): Promise<AuditTickResult>;
  /** Stops the timer and waits for a tick in progress, so the database can close after it. */
  stop(): Promise<void>;
}

const NOTHING: AuditTickResult = { signed: [], witnessed: [], mirrored: [] };

/** The schedule without its timer: `tick()` runs the jobs once. */
export function createAuditSchedule(options: AuditScheduleOptions): AuditSchedule {
  const { db, keys, policy } = options;
  const clock = options.clock ?? (() => new Date());
  const pendingWitness = new Map<string, SignedCheckpoint>();
  let running: Promise<AuditTickResult> | undefined;
  let stopped = false;

  /**
   * Signs what is due, each chain in a transaction of its own that takes the job lock at once
   * (or gives up the tick: another replica is at it) and reads the chain's status again under
   * it: another replica may just have signed. One short transaction per chain, because the
   * checkpoint's foreign key locks the chain's row against its appenders until it commits.
   */
  async function signDue(statuses: readonly ChainCheckpointStatus[], now: Date): Promise<SignedCheckpoint[]> {
    const due = statuses.filter((status) => isCheckpointDue(status, policy, now.getTime())).slice(0, MAX_CHECKPOINTS_PER_TICK);
    if (due.length === 0) return [];
    // Read before the transactions: the keyring reads the keys table, and PGlite runs one
    // transaction at a time.
    const signer = await keys.signingKey();
    const signed: SignedCheckpoint[] = [];
    for (const { chain } of due) {
      const outcome = await db.transaction(async (tx): Promise<SignedCheckpoint | "locked" | undefined> => {
        if (!(await tryTransactionLock(tx, CHECKPOINT_JOB_LOCK_KEY))) return "locked";
        const [current] = await readChainStatuses(tx, chain);
        if (current === undefined || !isCheckpointDue(current, policy, now.getTime())) return undefined;
        return signCheckpoint(tx, signer, chain, () => now);
      });
      if (outcome === "locked") break;
      if (outcome !== undefined) signed.push(outcome);
    }
    return signed;
  }

  /** Writes the pending witness files; a failed one stays pending for the next tick. */
  async function writeWitnessFiles(dir: string): Promise<string[]> {
    const written: string[] = [];
    for (const [name, checkpoint] of pendingWitness) {
      const file = path.join(dir, name);
      const text = `${JSON.stringify(checkpoint, null, 2)}\n`;
      try {
        if (await publishFileExclusively(file, text, 0o644)) {
          written.push(file);
        } else if ((await readFile(file, "utf8")) !== text) {
          // Never overwritten: a different checkpoint at this seq (a restored database reusing
          // seqs, or a forgery) is evidence, and the auditor's file stays as it was.
          options.onError("witness", new Error(`${file} already holds another checkpoint of ${checkpoint.chain} at seq ${String(checkpoint.seq)}; kept as it is`));
        }
        pendingWitness.delete(name);
      } catch (error) {
        options.onError("witness", error);
      }
    }
    return written;
  }

  /** Brings each checkpointed chain's mirror up to (at least) its latest checkpoint, one replica at a time. */
  async function exportDueMirrors(dir: string, statuses: readonly ChainCheckpointStatus[]): Promise<ExportResult[]> {
    const lagging: ChainCheckpointStatus[] = [];
    for (const status of statuses) {
      if (status.checkpoint === undefined) continue;
      try {
        if ((await mirroredSeq(path.join(dir, status.chain))) < status.checkpoint.seq) lagging.push(status);
      } catch (error) {
        options.onError("mirror", error);
      }
    }
    if (lagging.length === 0) return [];
    const lock = await db.holdAdvisoryLock(MIRROR_JOB_LOCK_KEY);
    if (lock === undefined) return [];
    try {
      const exported: ExportResult[] = [];
      let signer: AuditSigner | undefined;
      for (const status of lagging) {
        try {
          signer ??= await keys.signingKey();
          exported.push(await exportMirror(db, signer, status.chain, path.join(dir, status.chain), { clock }));
        } catch (error) {
          options.onError("mirror", error);
        }
      }
      return exported;
    } finally {
      await lock.release();
    }
  }

  async function runTick(): Promise<AuditTickResult> {
    if (stopped) return NOTHING;
    const now = clock();
    let statuses: ChainCheckpointStatus[];
    let signed: SignedCheckpoint[];
    try {
      statuses = await readChainStatuses(db);
      signed = await signDue(statuses, now);
    } catch (error) {
      options.onError("checkpoint", error);
      return NOTHING;
    }
    const signedByChain = new Map(signed.map((checkpoint) => [checkpoint.chain, checkpoint]));
    const seen = statuses.map((status) => {
      const mine = signedByChain.get(status.chain);
      return mine === undefined ? status : { ...status, checkpoint: { seq: mine.seq, signedAt: mine.signed_at } };
    });
    options.onStatus?.(seen);
    let witnessed: string[] = [];
    if (options.witnessDir !== undefined) {
      for (const checkpoint of signed) pendingWitness.set(witnessFileName(checkpoint), checkpoint);
      for (const name of pendingWitness.keys()) {
        if (pendingWitness.size <= MAX_PENDING_WITNESS_FILES) break;
        pendingWitness.delete(name);
      }
      witnessed = await writeWitnessFiles(options.witnessDir);
    }
    let mirrored: ExportResult[] = [];
    if (options.mirrorDir !== undefined) {
      try {
        mirrored = await exportDueMirrors(options.mirrorDir, seen);
      } catch (error) {
        options.onError("mirror", error);
      }
    }
    return { signed, witnessed, mirrored };
  }

  return {
    async tick() {
      while (running !== undefined) await running;
      running = runTick().finally(() => { running = undefined; });
      return running;
    },
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/**
 * The schedule with its timer: a tick every `tickMs` (default 30 s), never overlapping a tick
 * in progress, unref'd (it never keeps the process alive). `stop()` clears it.
 */
export function startAuditSchedule(options: AuditScheduleOptions): AuditSchedule {
  const schedule = createAuditSchedule(options);
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void schedule.tick().finally(() => { busy = false; });
  }, options.tickMs ?? AUDIT_SCHEDULE_TICK_MS);
  timer.unref();
  return {
    tick: () => schedule.tick(),
    async stop() {
      clearInterval(timer);
      await schedule.stop();
    },
  };
}
