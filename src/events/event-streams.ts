import type { Authorizer } from "../authz/authorizer.ts";
import { domainRef, nodeRef } from "../authz/object-ids.ts";
import { auditActor, auditResource } from "../audit/audit-vocabulary.ts";
import type { DenialRecorder } from "../audit/denial-recorder.ts";
import type { NodeKeyRecord, NodeRepository } from "../nodes/node-repo.ts";
import { CustosError, isCustosError } from "../platform/errors.ts";
import type { BusMessage, BusSubscription, EventBus, StreamStart } from "./event-bus.ts";
import { envelopeTypeOf } from "./event-envelope.ts";

/** Why a node's stream was refused after it authenticated, as its audit record says. */
export type EventStreamDenialReason = "not_domain_member" | "event_stream_limit";

/** Open streams per node, on this replica (the limit is per replica: each counts its own). */
export interface StreamSlots {
  /** False when the node already holds `max` streams here. */
  acquire(nodeId: string): boolean;
  release(nodeId: string): void;
  /** Streams open now, for tests and metrics. */
  open(nodeId?: string): number;
}

export function createStreamSlots(max: number): StreamSlots {
  const held = new Map<string, number>();
  return {
    acquire(nodeId) {
      const count = held.get(nodeId) ?? 0;
      if (count >= max) return false;
      held.set(nodeId, count + 1);
      return true;
    },
    release(nodeId) {
      const count = (held.get(nodeId) ?? 0) - 1;
      if (count <= 0) held.delete(nodeId);
      else held.set(nodeId, count);
    },
    open(nodeId) {
      if (nodeId !== undefined) return held.get(nodeId) ?? 0;
      let total = 0;
      for (const count of held.values()) total += count;
      return total;
    },
  };
}

/** Where a stream writes: the HTTP adapter turns these into SSE (events.routes.ts). */
export interface EventStreamSink {
  /** The stream is accepted: send the 200 and its headers. Called once, before anything else. */
  open(): void;
  event(sequence: number, envelope: string): void;
  heartbeat(): void;
  /** The server ends the stream (quarantine, decommission, the bus lost). */
  end(): void;
}

export interface EventStreamDependencies {
  readonly bus: Pick<EventBus, "subscribe">;
  readonly authorizer: Pick<Authorizer, "readRelationships">;
  readonly nodes: Pick<NodeRepository, "findNode">;
  readonly denials: Pick<DenialRecorder, "record">;
  readonly slots: StreamSlots;
  /** EVENTS_HEARTBEAT_SECONDS. */
  readonly heartbeatSeconds: number;
}

export interface OpenEventStreamInput {
  /** The key authentication verified: the node is active. */
  readonly key: NodeKeyRecord;
  readonly start: StreamStart;
  readonly requestId: string;
  readonly sink: EventStreamSink;
}

export interface OpenEventStream {
  /** The client went away: releases the subscription, the timer and the slot. Idempotent. */
  close(): Promise<void>;
}

/** `Last-Event-ID`: a decimal stream sequence, or absent (new events only). */
export function parseLastEventId(header: string | undefined): StreamStart {
  if (header === undefined || header === "") return "new";
  if (!/^\d{1,15}$/.test(header)) throw new CustosError("invalid_request", { detail: "Last-Event-ID must be a decimal event sequence" });
  return { after: Number(header) };
}

/**
 * GET /v1/nodes/{node_id}/events after authentication (the same as a read's: bearer, node,
 * quarantine): SpiceDB must hold the node as its domain's (`node:<id>#domain@domain:<d>`, read
 * fully consistent, so a decommission on another replica counts at once), the node must have
 * a free stream slot, and the bus subscription must open — each refusal before the 200, as
 * problem+json. Then retained events after Last-Event-ID, new ones as they come, a heartbeat
 * every EVENTS_HEARTBEAT_SECONDS (each one also re-reads the node: a stream of a node no longer
 * active ends), and the end right after `node.quarantined` or on the bus's order to end.
 */
export async function openEventStream(deps: EventStreamDependencies, input: OpenEventStreamInput): Promise<OpenEventStream> {
  const { key, start, requestId, sink } = input;
  const { nodeId } = key;
  const domain = key.node.domain;
  const refuse = async (reason: EventStreamDenialReason, error: CustosError): Promise<never> => {
    await deps.denials.record({ chain: domain, actor: auditActor.node(nodeId), action: "event.subscribe", resource: auditResource.node(nodeId), decision: "denied", reason, requestId });
    throw error;
  };
  const membership = await deps.authorizer.readRelationships(
    { resourceType: "node", resourceId: nodeRef(nodeId).id, relation: "domain", subject: domainRef(domain) },
    { kind: "fully_consistent" },
  );
  if (membership.length === 0) await refuse("not_domain_member", new CustosError("permission_denied", { detail: "this node does not belong to its domain" }));
  if (!deps.slots.acquire(nodeId)) {
    await refuse("event_stream_limit", new CustosError("event_stream_limit", { detail: "this node already holds as many event streams as it may; close one first" }));
  }

  // An object, not two lets: the callbacks below change them after this function has read them.
  const state = { opened: false, closed: false };
  const pending: { sequence: number; message: BusMessage }[] = [];
  let subscription: BusSubscription | undefined;
  let heartbeat: NodeJS.Timeout | undefined;

  const close = async (): Promise<void> => {
    if (state.closed) return;
    state.closed = true;
    clearInterval(heartbeat);
    deps.slots.release(nodeId);
    await subscription?.close();
  };
  const endStream = (): void => {
    void close();
    sink.end();
  };
  const deliver = (sequence: number, message: BusMessage): void => {
    if (state.closed) return;
    if (message.kind === "end") {
      endStream();
      return;
    }
    sink.event(sequence, message.envelope);
    // Delivered, then ended at once: a quarantined node hears why, and nothing after.
    if (envelopeTypeOf(message.envelope) === "node.quarantined") endStream();
  };

  try {
    subscription = await deps.bus.subscribe({ domain, nodeId }, start, {
      deliver: ({ sequence, message }) => {
        if (state.opened) deliver(sequence, message);
        else pending.push({ sequence, message });
      },
      fail: () => { if (state.opened) endStream(); },
    });
  } catch (error) {
    await close();
    if (isCustosError(error)) throw error;
    throw new CustosError("store_unavailable", { detail: "the event bus is unavailable; retry", cause: error });
  }

  sink.open();
  state.opened = true;
  for (const { sequence, message } of pending.splice(0)) deliver(sequence, message);
  if (!state.closed) {
    heartbeat = setInterval(() => {
      sink.heartbeat();
      deps.nodes.findNode(nodeId).then(
        (node) => { if (node?.status !== "active") endStream(); },
        () => { endStream(); },
      );
    }, deps.heartbeatSeconds * 1000);
  }
  return { close };
}
