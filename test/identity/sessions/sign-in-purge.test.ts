import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { PurgeCounts } from "../../../src/identity/sessions/session-repo.ts";
import { startSignInPurge } from "../../../src/identity/sessions/sign-in-purge.ts";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("startSignInPurge", () => {
  it("purges at every interval with the current time, until stopped", async () => {
    const calls: number[] = [];
    let clock = 1_000;
    const purge = startSignInPurge({
      sessions: { purgeExpired: (now) => { calls.push(now); return Promise.resolve({ loginAttempts: 0, sessions: 0 }); } },
      now: () => clock,
      intervalMs: 60_000,
      onError: () => undefined,
    });
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(60_000);
    clock = 1_060;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toEqual([1_000, 1_060]);
    await purge.stop();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(calls).toHaveLength(2);
  });

  it("never keeps the process alive: its timer is unref'd", () => {
    const spy = vi.spyOn(globalThis, "setInterval");
    const purge = startSignInPurge({ sessions: { purgeExpired: () => Promise.resolve({ loginAttempts: 0, sessions: 0 }) }, now: () => 0, intervalMs: 1_000, onError: () => undefined });
    const timer = spy.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    spy.mockRestore();
    return purge.stop();
  });

  it("reports a failed purge and tries again at the next interval; never overlaps a slow one", async () => {
    const errors: unknown[] = [];
    let release: ((counts: PurgeCounts) => void) | undefined;
    let calls = 0;
    const purge = startSignInPurge({
      sessions: {
        purgeExpired: () => {
          calls += 1;
          if (calls === 1) return Promise.reject(new Error("database down"));
          return new Promise<PurgeCounts>((resolve) => { release = resolve; });
        },
      },
      now: () => 0,
      intervalMs: 1_000,
      onError: (error) => { errors.push(error); },
    });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(errors).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toBe(2);
    // stop() waits for the purge in progress, so the database may close after it.
    let stopped = false;
    const stopping = purge.stop().then(() => { stopped = true; });
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    release?.({ loginAttempts: 0, sessions: 0 });
    await stopping;
    expect(stopped).toBe(true);
  });
});
