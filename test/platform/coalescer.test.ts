import { describe, expect, it, vi } from "vitest";
import { Coalescer, type ItemOutcome } from "../../src/platform/coalescer.ts";

interface Call {
  readonly key: string;
  readonly requests: readonly number[];
}

/** A runner that answers "is it even?" and records every bulk call it receives. */
function evenRunner(calls: Call[]) {
  return (key: string, requests: readonly number[]): Promise<ItemOutcome<boolean>[]> => {
    calls.push({ key, requests });
    return Promise.resolve(requests.map((n) => (n < 0 ? { ok: false, error: new Error(`item ${n}`) } : { ok: true, value: n % 2 === 0 })));
  };
}

const malformed = (): Error => new Error("malformed");

/** A runner whose calls stay in flight until the test answers them, oldest first. */
function gatedRunner() {
  const calls: Call[] = [];
  const answers: (() => void)[] = [];
  return {
    calls,
    run: (key: string, requests: readonly number[]): Promise<ItemOutcome<boolean>[]> => {
      calls.push({ key, requests });
      return new Promise((resolve) => {
        answers.push(() => { resolve(requests.map((n) => ({ ok: true, value: n % 2 === 0 }))); });
      });
    },
    answerNext: () => { answers.shift()?.(); },
  };
}

/** Lets every pending microtask run (no timer involved, so fake timers do not matter). */
async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i += 1) await Promise.resolve();
}

describe("Coalescer", () => {
  it("answers 200 concurrent requests with 4 bulk calls of at most 64, each caller its own answer", async () => {
    const calls: Call[] = [];
    const coalescer = new Coalescer(evenRunner(calls), { maxBatch: 64, malformed });
    const inputs = Array.from({ length: 200 }, (_, i) => i);
    const answers = await Promise.all(inputs.map((n) => coalescer.submit("k", n)));
    expect(answers).toEqual(inputs.map((n) => n % 2 === 0));
    expect(calls.map((call) => call.requests.length)).toEqual([64, 64, 64, 8]);
  });

  it("fails only the caller whose item failed", async () => {
    const coalescer = new Coalescer(evenRunner([]), { maxBatch: 64, malformed });
    const results = await Promise.allSettled([coalescer.submit("k", 2), coalescer.submit("k", -1), coalescer.submit("k", 3)]);
    expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(results[0]).toEqual({ status: "fulfilled", value: true });
    expect(results[2]).toEqual({ status: "fulfilled", value: false });
  });

  it("fails the whole batch when the bulk call fails, and the next batch still runs", async () => {
    let fail = true;
    const coalescer = new Coalescer((_key, requests: readonly number[]) => {
      if (fail) return Promise.reject(new Error("down"));
      return Promise.resolve(requests.map((): ItemOutcome<boolean> => ({ ok: true, value: true })));
    }, { maxBatch: 64, malformed });
    const first = await Promise.allSettled([coalescer.submit("k", 1), coalescer.submit("k", 2)]);
    expect(first.every((result) => result.status === "rejected")).toBe(true);
    fail = false;
    await expect(coalescer.submit("k", 3)).resolves.toBe(true);
  });

  it("treats a synchronous throw from the runner as a failed batch", async () => {
    const coalescer = new Coalescer<number, boolean>(() => { throw new Error("sync"); }, { maxBatch: 64, malformed });
    await expect(coalescer.submit("k", 1)).rejects.toThrow("sync");
  });

  it("refuses an answer that does not match its batch", async () => {
    const coalescer = new Coalescer((): Promise<ItemOutcome<boolean>[]> => Promise.resolve([{ ok: true, value: true }]), { maxBatch: 64, malformed });
    const results = await Promise.allSettled([coalescer.submit("k", 1), coalescer.submit("k", 2)]);
    expect(results).toEqual([
      { status: "rejected", reason: new Error("malformed") },
      { status: "rejected", reason: new Error("malformed") },
    ]);
  });

  it("never mixes keys in one call", async () => {
    const calls: Call[] = [];
    const coalescer = new Coalescer(evenRunner(calls), { maxBatch: 64, malformed });
    await Promise.all([coalescer.submit("a", 1), coalescer.submit("b", 2), coalescer.submit("a", 3)]);
    expect(calls).toEqual([{ key: "a", requests: [1, 3] }, { key: "b", requests: [2] }]);
  });

  it("sends a lone check at once: no timer is set and none needs to fire", async () => {
    vi.useFakeTimers();
    try {
      const calls: Call[] = [];
      const coalescer = new Coalescer(evenRunner(calls), { maxBatch: 64, malformed });
      const answer = coalescer.submit("k", 2);
      expect(vi.getTimerCount()).toBe(0);
      // Resolves on microtasks alone: the fake clock never moves.
      await expect(answer).resolves.toBe(true);
      expect(calls).toEqual([{ key: "k", requests: [2] }]);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("joins checks made in the same turn into one call", async () => {
    const calls: Call[] = [];
    const coalescer = new Coalescer(evenRunner(calls), { maxBatch: 64, malformed });
    await Promise.all([coalescer.submit("k", 1), coalescer.submit("k", 2), coalescer.submit("k", 3)]);
    expect(calls.map((call) => call.requests)).toEqual([[1, 2, 3]]);
  });

  it("batches what queues while a call is in flight, and sends it when that call is answered", async () => {
    vi.useFakeTimers();
    try {
      const gated = gatedRunner();
      const sizes: number[] = [];
      const coalescer = new Coalescer(gated.run, { maxBatch: 64, malformed, onBatch: (_key, size) => { sizes.push(size); } });
      const first = coalescer.submit("k", 1);
      await flushMicrotasks();
      expect(gated.calls.map((call) => call.requests)).toEqual([[1]]);
      // Arriving one by one, in later turns, while [1] is in flight: they wait for it.
      const later: Promise<boolean>[] = [];
      for (const n of [2, 3, 4]) {
        later.push(coalescer.submit("k", n));
        await flushMicrotasks();
      }
      expect(gated.calls).toHaveLength(1);
      expect(coalescer.queued).toBe(3);
      gated.answerNext();
      await expect(first).resolves.toBe(false);
      await flushMicrotasks();
      expect(gated.calls.map((call) => call.requests)).toEqual([[1], [2, 3, 4]]);
      gated.answerNext();
      await expect(Promise.all(later)).resolves.toEqual([true, false, true]);
      expect(sizes).toEqual([1, 3]);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("sends a full queue at once even while a call is in flight", async () => {
    const gated = gatedRunner();
    const coalescer = new Coalescer(gated.run, { maxBatch: 2, malformed });
    const answers = [coalescer.submit("k", 1)];
    await flushMicrotasks();
    answers.push(coalescer.submit("k", 2), coalescer.submit("k", 3));
    await flushMicrotasks();
    expect(gated.calls.map((call) => call.requests)).toEqual([[1], [2, 3]]);
    gated.answerNext();
    gated.answerNext();
    await expect(Promise.all(answers)).resolves.toEqual([false, true, false]);
  });

  it("fails what is still queued at shutdown", async () => {
    const coalescer = new Coalescer(evenRunner([]), { maxBatch: 64, malformed });
    const pending = coalescer.submit("k", 1);
    coalescer.failQueued(new Error("closed"));
    await expect(pending).rejects.toThrow("closed");
  });
});
