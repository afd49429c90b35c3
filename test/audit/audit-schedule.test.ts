import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { isCheckpointDue, startAuditSchedule, witnessFileName, type AuditJob } from "../../src/audit/audit-schedule.ts";
import type { Database } from "../../src/platform/db/database.ts";

const HOUR = { intervalSeconds: 3600, everyRecords: undefined };
const T0 = Date.parse("2026-03-01T12:00:00.000Z");
const status = (headSeq: number, checkpoint?: { seq: number; signedAt: string }) => ({ chain: "acme", headSeq, checkpoint });

describe("isCheckpointDue", () => {
  it("is due for a chain never checkpointed as soon as it holds a record, and never for an empty one", () => {
    expect(isCheckpointDue(status(1), HOUR, T0)).toBe(true);
    expect(isCheckpointDue(status(0), HOUR, T0)).toBe(false);
  });

  it("is due once the interval has passed since the last checkpoint, and not a millisecond before", () => {
    const last = { seq: 5, signedAt: "2026-03-01T12:00:00.000Z" };
    expect(isCheckpointDue(status(6, last), HOUR, T0 + 3_600_000 - 1)).toBe(false);
    expect(isCheckpointDue(status(6, last), HOUR, T0 + 3_600_000)).toBe(true);
  });

  it("is never due for a chain whose head has not moved past its last checkpoint, however long ago", () => {
    const last = { seq: 5, signedAt: "2026-03-01T12:00:00.000Z" };
    expect(isCheckpointDue(status(5, last), HOUR, T0 + 30 * 86_400_000)).toBe(false);
    // A head behind its checkpoint (a restored database) is for verification to name, not to sign over.
    expect(isCheckpointDue(status(3, last), HOUR, T0 + 30 * 86_400_000)).toBe(false);
  });

  it("is due as soon as the head moved N records past the last checkpoint, before the interval", () => {
    const every = { intervalSeconds: 3600, everyRecords: 100 };
    const last = { seq: 5, signedAt: "2026-03-01T12:00:00.000Z" };
    expect(isCheckpointDue(status(104, last), every, T0 + 1000)).toBe(false);
    expect(isCheckpointDue(status(105, last), every, T0 + 1000)).toBe(true);
  });
});

describe("witnessFileName", () => {
  it("names a file by chain and seq, the seq padded so that a chain's files sort by seq", () => {
    expect(witnessFileName({ chain: "acme-eu", seq: 42 })).toBe("acme-eu-000000000042.json");
  });
});

describe("startAuditSchedule", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A store with no chains (nothing is ever due): each tick reads the statuses once. */
  function fakeDb(query: () => Promise<unknown[]>): Database {
    return {
      driver: "pglite",
      query: query as Database["query"],
      transaction: () => Promise.reject(new Error("not expected")),
      pipelinedTransaction: () => Promise.reject(new Error("not expected")),
      holdAdvisoryLock: () => Promise.resolve({ release: () => Promise.resolve() }),
      close: () => Promise.resolve(),
    };
  }
  const keys = { signingKey: () => Promise.reject(new Error("not expected")) };

  it("ticks every tickMs until stopped, and never keeps the process alive", async () => {
    const spy = vi.spyOn(globalThis, "setInterval");
    let reads = 0;
    const schedule = startAuditSchedule({
      db: fakeDb(() => { reads += 1; return Promise.resolve([]); }),
      keys, policy: HOUR, tickMs: 30_000, onError: () => undefined,
    });
    const timer = spy.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    spy.mockRestore();
    expect(reads).toBe(0);
    await vi.advanceTimersByTimeAsync(90_000);
    expect(reads).toBe(3);
    await schedule.stop();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(reads).toBe(3);
  });

  it("reports a failed tick and tries again at the next, never throwing; never overlaps a slow one; stop waits for it", async () => {
    const errors: AuditJob[] = [];
    let calls = 0;
    let release: ((rows: unknown[]) => void) | undefined;
    const schedule = startAuditSchedule({
      db: fakeDb(() => {
        calls += 1;
        if (calls === 1) return Promise.reject(new Error("database down"));
        return new Promise<unknown[]>((resolve) => { release = resolve; });
      }),
      keys, policy: HOUR, tickMs: 1_000,
      onError: (job) => { errors.push(job); },
    });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(errors).toEqual(["checkpoint"]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toBe(2);
    let stopped = false;
    const stopping = schedule.stop().then(() => { stopped = true; });
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    release?.([]);
    await stopping;
    expect(stopped).toBe(true);
    expect(calls).toBe(2);
  });
});
