import type { ReadinessProbe } from "../platform/readiness.ts";
import type { SignedEnvelope } from "./event-envelope.ts";

/**
 * The bus port (docs/design.md, "Signed events"): per-node streams of messages, each with a
 * sequence number that strictly increases along a node's stream, retained for a while so a
 * node that reconnects can resume after the last sequence it saw. Two adapters: in-process
 * (one replica, the default) and NATS JetStream (NATS_URL; every replica sees every event).
 */

/** What travels: a signed envelope for the node, or the order to end its open streams (decommission). */
export type BusMessage = { readonly kind: "event"; readonly envelope: SignedEnvelope } | { readonly kind: "end" };

export interface Addressed {
  readonly domain: string;
  readonly nodeId: string;
  readonly message: BusMessage;
}

export interface Delivered {
  readonly sequence: number;
  readonly message: BusMessage;
}

/** Where a subscription starts: after a sequence the node saw (Last-Event-ID), or with new messages only. */
export type StreamStart = { readonly after: number } | "new";

export interface BusSubscriber {
  deliver(delivered: Delivered): void;
  /** The subscription broke (the bus went away); the stream ends and the node reconnects. */
  fail(error: unknown): void;
}

export interface BusSubscription {
  /** Releases everything the subscription holds (listeners, consumers); idempotent. */
  close(): Promise<void>;
}

export interface EventBus {
  readonly kind: "in-process" | "jetstream";
  /** Publishes every message or throws; messages to one node keep their order. */
  publish(messages: readonly Addressed[]): Promise<void>;
  /** Retained messages after `start` first, in order, then new ones as they are published. */
  subscribe(target: { readonly domain: string; readonly nodeId: string }, start: StreamStart, subscriber: BusSubscriber): Promise<BusSubscription>;
  /** For /readyz, when the bus depends on something that can be down. */
  readonly readiness: ReadinessProbe | undefined;
  close(): Promise<void>;
}
