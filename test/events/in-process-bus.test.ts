import { describe, expect, it } from "vitest";
import type { SignedEnvelope } from "../../src/events/event-envelope.ts";
import type { BusMessage, Delivered } from "../../src/events/event-bus.ts";
import { createInProcessBus } from "../../src/events/in-process-bus.ts";

const envelope = (text: string): BusMessage => ({ kind: "event", envelope: text as SignedEnvelope });

function collect() {
  const delivered: Delivered[] = [];
  return { delivered, subscriber: { deliver: (d: Delivered) => { delivered.push(d); }, fail: () => undefined } };
}

describe("the in-process event bus", () => {
  it("numbers messages with strictly increasing sequences and delivers only the node's own, new ones without a start", async () => {
    const bus = createInProcessBus({ retainPerNode: 10, retentionSeconds: 60 });
    await bus.publish([{ domain: "acme", nodeId: "n1", message: envelope("before") }]);
    const mine = collect();
    const theirs = collect();
    await bus.subscribe({ domain: "acme", nodeId: "n1" }, "new", mine.subscriber);
    await bus.subscribe({ domain: "other", nodeId: "n1" }, "new", theirs.subscriber);
    await bus.publish([
      { domain: "acme", nodeId: "n1", message: envelope("a") },
      { domain: "acme", nodeId: "n2", message: envelope("x") },
      { domain: "acme", nodeId: "n1", message: envelope("b") },
    ]);
    expect(mine.delivered.map((d) => d.message)).toEqual([envelope("a"), envelope("b")]);
    const [a, b] = mine.delivered;
    expect((b?.sequence ?? 0) > (a?.sequence ?? 0)).toBe(true);
    expect(theirs.delivered).toEqual([]);
  });

  it("replays what is retained after a sequence, then goes on live; a closed subscription hears nothing", async () => {
    const bus = createInProcessBus({ retainPerNode: 10, retentionSeconds: 60 });
    await bus.publish(["one", "two", "three"].map((text) => ({ domain: "acme", nodeId: "n1", message: envelope(text) })));
    const first = collect();
    const all = await bus.subscribe({ domain: "acme", nodeId: "n1" }, { after: 0 }, first.subscriber);
    const afterOne = first.delivered[0]?.sequence ?? 0;
    await all.close();
    const resumed = collect();
    await bus.subscribe({ domain: "acme", nodeId: "n1" }, { after: afterOne }, resumed.subscriber);
    await bus.publish([{ domain: "acme", nodeId: "n1", message: { kind: "end" } }]);
    expect(resumed.delivered.map((d) => d.message)).toEqual([envelope("two"), envelope("three"), { kind: "end" }]);
    expect(first.delivered).toHaveLength(3);
  });

  it("retains at most retainPerNode messages per node, the newest", async () => {
    const bus = createInProcessBus({ retainPerNode: 2, retentionSeconds: 60 });
    await bus.publish(["1", "2", "3"].map((text) => ({ domain: "acme", nodeId: "n1", message: envelope(text) })));
    const got = collect();
    await bus.subscribe({ domain: "acme", nodeId: "n1" }, { after: 0 }, got.subscriber);
    expect(got.delivered.map((d) => d.message)).toEqual([envelope("2"), envelope("3")]);
  });

  it("drops messages older than the retention", async () => {
    let nowMs = 1_000_000;
    const bus = createInProcessBus({ retainPerNode: 10, retentionSeconds: 60, nowMs: () => nowMs });
    await bus.publish([{ domain: "acme", nodeId: "n1", message: envelope("old") }]);
    nowMs += 30_000;
    await bus.publish([{ domain: "acme", nodeId: "n1", message: envelope("recent") }]);
    nowMs += 30_001;
    const got = collect();
    await bus.subscribe({ domain: "acme", nodeId: "n1" }, { after: 0 }, got.subscriber);
    expect(got.delivered.map((d) => d.message)).toEqual([envelope("recent")]);
  });
});
