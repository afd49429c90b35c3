import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SignedEnvelope } from "../../src/events/event-envelope.ts";
import type { BusMessage, Delivered, EventBus, StreamStart } from "../../src/events/event-bus.ts";
import { EventBusUnavailable, openJetStreamBus } from "../../src/events/jetstream-bus.ts";
import { deleteStream, isolatedStream } from "./nats-fixture.ts";

const NATS = process.env.NATS_TEST_URL ?? "";
const envelope = (text: string): BusMessage => ({ kind: "event", envelope: text as SignedEnvelope });

/** What a subscriber received, and a way to wait for the n-th delivery. */
function collector() {
  const delivered: Delivered[] = [];
  const waiters: (() => void)[] = [];
  return {
    delivered,
    subscriber: { deliver: (d: Delivered) => { delivered.push(d); for (const wake of waiters.splice(0)) wake(); }, fail: () => undefined },
    async count(n: number): Promise<Delivered[]> {
      const deadline = Date.now() + 15_000;
      while (delivered.length < n) {
        if (Date.now() > deadline) throw new Error(`only ${String(delivered.length)} of ${String(n)} messages arrived`);
        await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 200); });
      }
      return delivered.slice(0, n);
    },
  };
}

/** The JetStream adapter against the real NATS server (2.9 here): the bus port's contract. */
describe.skipIf(NATS === "")("the JetStream event bus", () => {
  const { stream, subjectPrefix } = isolatedStream("BUS");
  let bus: EventBus;
  const settings = { url: NATS, stream, subjectPrefix, retentionBytes: 8 * 1024 * 1024, retentionSeconds: 3600 };

  beforeAll(async () => { bus = await openJetStreamBus(settings); });
  afterAll(async () => {
    await bus.close();
    await deleteStream(NATS, stream);
  });

  const subscribe = async (nodeId: string, start: StreamStart) => {
    const got = collector();
    const subscription = await bus.subscribe({ domain: "acme", nodeId }, start, got.subscriber);
    return { ...got, subscription };
  };

  it("makes one bounded stream for the deployment: every node's subject, age and bytes limits, oldest dropped", async () => {
    const nc = await connect({ servers: new URL(NATS).host });
    try {
      const info = await (await jetstreamManager(nc)).streams.info(stream);
      expect(info.config).toMatchObject({ subjects: [`${subjectPrefix}.>`], max_age: 3600 * 1_000_000_000, max_bytes: 8 * 1024 * 1024, discard: "old" });
    } finally {
      await nc.close();
    }
    await expect(bus.readiness?.check()).resolves.toBeUndefined();
  });

  it("delivers only new messages without a start, in order, to the node's subscriber only; resumes after a sequence", async () => {
    await bus.publish([{ domain: "acme", nodeId: "n1", message: envelope("old") }]);
    const live = await subscribe("n1", "new");
    const other = await subscribe("n2", "new");
    await bus.publish([
      { domain: "acme", nodeId: "n1", message: envelope("one") },
      { domain: "acme", nodeId: "n2", message: envelope("for-n2") },
      { domain: "acme", nodeId: "n1", message: envelope("two") },
    ]);
    const [one, two] = await live.count(2);
    expect([one?.message, two?.message]).toEqual([envelope("one"), envelope("two")]);
    expect((two?.sequence ?? 0) > (one?.sequence ?? 0)).toBe(true);
    expect((await other.count(1)).map((d) => d.message)).toEqual([envelope("for-n2")]);
    await live.subscription.close();
    await other.subscription.close();

    const resumed = await subscribe("n1", { after: one?.sequence ?? 0 });
    await bus.publish([{ domain: "acme", nodeId: "n1", message: { kind: "end" } }]);
    expect((await resumed.count(2)).map((d) => d.message)).toEqual([envelope("two"), { kind: "end" }]);
    await resumed.subscription.close();
  });

  it("refuses to start when NATS_URL names no server, naming the setting", async () => {
    const refused = openJetStreamBus({ ...settings, url: "nats://127.0.0.1:1" });
    await expect(refused).rejects.toBeInstanceOf(EventBusUnavailable);
    await expect(refused).rejects.toThrow(/NATS_URL/);
  });
});
