import { describe, expect, it } from "vitest";
import type { Relationship } from "../../src/authz/authorizer.ts";
import { domainRef, nodeRef } from "../../src/authz/object-ids.ts";
import type { AuditEventInput } from "../../src/audit/audit-port.ts";
import type { SignedEnvelope } from "../../src/events/event-envelope.ts";
import type { BusSubscriber, StreamStart } from "../../src/events/event-bus.ts";
import { createStreamSlots, openEventStream, parseLastEventId, type EventStreamDependencies } from "../../src/events/event-streams.ts";
import type { NodeKeyRecord } from "../../src/nodes/node-repo.ts";

const NODE = "0b6f1c2e-5a4d-4e8f-9c3b-1d2e3f4a5b6c";
const KEY = { kid: "kid-1", nodeId: NODE, node: { id: NODE, domain: "acme", name: "web", status: "active" } } as unknown as NodeKeyRecord;
/** A JWS-shaped envelope whose payload names `type` (the stream reads the type, never verifies). */
const envelopeOf = (type: string) => `e30.${Buffer.from(JSON.stringify({ type })).toString("base64url")}.sig` as SignedEnvelope;

function fakes(options: { member?: boolean; maxStreams?: number } = {}) {
  const log: string[] = [];
  const denials: AuditEventInput[] = [];
  let subscriber: BusSubscriber | undefined;
  let start: StreamStart | undefined;
  const slots = createStreamSlots(options.maxStreams ?? 2);
  const deps: EventStreamDependencies = {
    slots,
    heartbeatSeconds: 3600,
    denials: { record: (event) => { denials.push(event); return Promise.resolve(); } },
    nodes: { findNode: () => Promise.resolve(KEY.node) },
    authorizer: {
      readRelationships: (filter) => {
        const member: Relationship = { resource: nodeRef(NODE), relation: "domain", subject: domainRef("acme") };
        expect(filter).toMatchObject({ resourceType: "node", relation: "domain", subject: domainRef("acme") });
        return Promise.resolve(options.member === false ? [] : [member]);
      },
    },
    bus: {
      subscribe: (_target, from, sub) => {
        subscriber = sub;
        start = from;
        // Something retained arrives while the subscription is being set up, before the 200.
        sub.deliver({ sequence: 7, message: { kind: "event", envelope: envelopeOf("secret.updated") } });
        return Promise.resolve({ close: () => { log.push("unsubscribed"); return Promise.resolve(); } });
      },
    },
  };
  const sink = {
    open: () => { log.push("open"); },
    event: (sequence: number) => { log.push(`event ${String(sequence)}`); },
    heartbeat: () => { log.push("heartbeat"); },
    end: () => { log.push("end"); },
  };
  const bus = () => {
    if (subscriber === undefined) throw new Error("subscribed");
    return subscriber;
  };
  return { deps, log, denials, slots, sink, bus, started: () => start };
}

describe("openEventStream", () => {
  it("opens, then delivers what arrived during set-up, then live events; ends right after node.quarantined and releases everything", async () => {
    const { deps, log, slots, sink, bus, started } = fakes();
    await openEventStream(deps, { key: KEY, start: { after: 6 }, requestId: "r", sink });
    expect(started()).toEqual({ after: 6 });
    expect(slots.open(NODE)).toBe(1);
    bus().deliver({ sequence: 8, message: { kind: "event", envelope: envelopeOf("node.quarantined") } });
    bus().deliver({ sequence: 9, message: { kind: "event", envelope: envelopeOf("secret.updated") } });
    await Promise.resolve();
    expect(log).toEqual(["open", "event 7", "event 8", "unsubscribed", "end"]);
    expect(slots.open(NODE)).toBe(0);
  });

  it("ends on the bus's order to end (decommission) without writing an event", async () => {
    const { deps, log, sink, bus } = fakes();
    await openEventStream(deps, { key: KEY, start: "new", requestId: "r", sink });
    bus().deliver({ sequence: 8, message: { kind: "end" } });
    expect(log.slice(-2)).toEqual(["unsubscribed", "end"]);
    expect(log).not.toContain("event 8");
  });

  it("a client hang-up releases the slot and the subscription once, however often it is called", async () => {
    const { deps, log, slots, sink } = fakes();
    const stream = await openEventStream(deps, { key: KEY, start: "new", requestId: "r", sink });
    await stream.close();
    await stream.close();
    expect(log.filter((entry) => entry === "unsubscribed")).toHaveLength(1);
    expect(slots.open()).toBe(0);
  });

  it("refuses a node SpiceDB does not hold as its domain's: 403, recorded as not_domain_member, nothing opened", async () => {
    const { deps, log, denials, slots, sink } = fakes({ member: false });
    await expect(openEventStream(deps, { key: KEY, start: "new", requestId: "r", sink })).rejects.toMatchObject({ code: "permission_denied" });
    expect(denials).toMatchObject([{ action: "event.subscribe", decision: "denied", reason: "not_domain_member", actor: `node:${NODE}` }]);
    expect(log).toEqual([]);
    expect(slots.open()).toBe(0);
  });

  it("refuses a stream beyond the node's limit with event_stream_limit, recorded", async () => {
    const { deps, denials, sink } = fakes({ maxStreams: 1 });
    await openEventStream(deps, { key: KEY, start: "new", requestId: "r", sink });
    await expect(openEventStream(deps, { key: KEY, start: "new", requestId: "r2", sink })).rejects.toMatchObject({ code: "event_stream_limit" });
    expect(denials.map((denial) => denial.reason)).toEqual(["event_stream_limit"]);
  });
});

describe("parseLastEventId", () => {
  it("reads a decimal sequence, treats absence as new events only, and refuses anything else with invalid_request", () => {
    expect(parseLastEventId(undefined)).toBe("new");
    expect(parseLastEventId("")).toBe("new");
    expect(parseLastEventId("42")).toEqual({ after: 42 });
    for (const bad of ["-1", "4.2", "0x10", "1".repeat(16)]) expect(() => parseLastEventId(bad)).toThrow(expect.objectContaining({ code: "invalid_request" }) as Error);
  });
});
