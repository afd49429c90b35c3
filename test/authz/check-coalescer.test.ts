import { setImmediate as nextTurn } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { Coalescer, type ItemOutcome } from "../../src/authz/check-coalescer.ts";

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

describe("Coalescer", () => {
  it("answers 200 concurrent requests with 4 bulk calls of at most 64, each caller its own answer", async () => {
    const calls: Call[] = [];
    const coalescer = new Coalescer(evenRunner(calls), 64, malformed);
    const inputs = Array.from({ length: 200 }, (_, i) => i);
    const answers = await Promise.all(inputs.map((n) => coalescer.submit("k", n)));
    expect(answers).toEqual(inputs.map((n) => n % 2 === 0));
    expect(calls.map((call) => call.requests.length)).toEqual([64, 64, 64, 8]);
  });

  it("fails only the caller whose item failed", async () => {
    const coalescer = new Coalescer(evenRunner([]), 64, malformed);
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
    }, 64, malformed);
    const first = await Promise.allSettled([coalescer.submit("k", 1), coalescer.submit("k", 2)]);
    expect(first.every((result) => result.status === "rejected")).toBe(true);
    fail = false;
    await expect(coalescer.submit("k", 3)).resolves.toBe(true);
  });

  it("treats a synchronous throw from the runner as a failed batch", async () => {
    const coalescer = new Coalescer<number, boolean>(() => { throw new Error("sync"); }, 64, malformed);
    await expect(coalescer.submit("k", 1)).rejects.toThrow("sync");
  });

  it("refuses an answer that does not match its batch", async () => {
    const coalescer = new Coalescer((): Promise<ItemOutcome<boolean>[]> => Promise.resolve([{ ok: true, value: true }]), 64, malformed);
    const results = await Promise.allSettled([coalescer.submit("k", 1), coalescer.submit("k", 2)]);
    expect(results).toEqual([
      { status: "rejected", reason: new Error("malformed") },
      { status: "rejected", reason: new Error("malformed") },
    ]);
  });

  it("never mixes keys in one call", async () => {
    const calls: Call[] = [];
    const coalescer = new Coalescer(evenRunner(calls), 64, malformed);
    await Promise.all([coalescer.submit("a", 1), coalescer.submit("b", 2), coalescer.submit("a", 3)]);
    expect(calls).toEqual([{ key: "a", requests: [1, 3] }, { key: "b", requests: [2] }]);
  });

  it("sends what is queued after a short delay, without waiting for a full batch, and joins checks arriving within it", async () => {
    const calls: Call[] = [];
    const coalescer = new Coalescer(evenRunner(calls), 64, malformed);
    const first = coalescer.submit("k", 1);
    expect(coalescer.queued).toBe(1);
    await nextTurn();
    const joined = coalescer.submit("k", 3);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(calls.map((call) => call.requests)).toEqual([[1, 3]]);
    const second = coalescer.submit("k", 2);
    await Promise.all([first, joined, second]);
    expect(calls.map((call) => call.requests)).toEqual([[1, 3], [2]]);
  });

  it("fails what is still queued at shutdown", async () => {
    const coalescer = new Coalescer(evenRunner([]), 64, malformed);
    const pending = coalescer.submit("k", 1);
    coalescer.failQueued(new Error("closed"));
    await expect(pending).rejects.toThrow("closed");
  });
});
