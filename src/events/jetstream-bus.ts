import { DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager, type JsMsg, type StreamConfig } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import type { NatsConfig } from "../platform/config.ts";
import type { SignedEnvelope } from "./event-envelope.ts";
import type { Addressed, BusMessage, EventBus } from "./event-bus.ts";

export interface JetStreamBusOptions extends NatsConfig {
  /** The stream's age bound (EVENTS_RETENTION_SECONDS). */
  readonly retentionSeconds: number;
}

/** Marks a control message (no envelope): end the node's open streams. */
const CONTROL_HEADER = "Custos-Control";
const END_STREAMS = "end-streams";

/** Why the bus could not start, naming the setting to change. */
export class EventBusUnavailable extends Error {
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = "EventBusUnavailable";
  }
}

/** `<prefix>.<domain>.<node_id>`: both are already restricted to subject-safe characters (names.ts). */
export function nodeSubject(prefix: string, domain: string, nodeId: string): string {
  return `${prefix}.${domain}.${nodeId}`;
}

function messageOf(msg: JsMsg): BusMessage {
  if (msg.headers?.get(CONTROL_HEADER) === END_STREAMS) return { kind: "end" };
  return { kind: "event", envelope: msg.string() as SignedEnvelope };
}

/** The stream as this deployment wants it: every node's subject, bounded by age and bytes, oldest dropped first. */
function wantedStream(options: JetStreamBusOptions): Partial<StreamConfig> & { name: string } {
  return {
    name: options.stream,
    subjects: [`${options.subjectPrefix}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: options.retentionSeconds * 1_000_000_000,
    max_bytes: options.retentionBytes,
  };
}

async function ensureStream(jsm: JetStreamManager, options: JetStreamBusOptions): Promise<void> {
  const wanted = wantedStream(options);
  const existing = await jsm.streams.info(options.stream).catch(() => undefined);
  if (existing === undefined) {
    await jsm.streams.add(wanted);
    return;
  }
  const { config } = existing;
  if (config.max_age !== wanted.max_age || config.max_bytes !== wanted.max_bytes || config.subjects.join(" ") !== wanted.subjects?.join(" ")) {
    // Another replica (or an older configuration) made it: every replica's settings are the deployment's.
    await jsm.streams.update(options.stream, { ...config, ...wanted });
  }
}

/**
 * The bus over NATS JetStream: one stream per deployment, subjects per domain and node. The
 * stream sequence is the SSE id; a stream resumes with an ordered consumer filtered on the
 * node's subject starting at Last-Event-ID + 1, so an event published through any replica
 * reaches a node connected to any other. Throws EventBusUnavailable (naming NATS_URL or
 * NATS_STREAM) when the server cannot be reached or the stream cannot be made.
 */
export async function openJetStreamBus(options: JetStreamBusOptions): Promise<EventBus> {
  const address = new URL(options.url);
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: `${address.hostname}:${address.port === "" ? "4222" : address.port}`, name: "custos", maxReconnectAttempts: -1, timeout: 5000, ...(address.protocol === "tls:" ? { tls: {} } : {}) });
  } catch (error) {
    throw new EventBusUnavailable(`cannot reach the NATS server named by NATS_URL (${address.host}): ${error instanceof Error ? error.message : "unknown error"}`, { cause: error });
  }
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
    await ensureStream(jsm, options);
  } catch (error) {
    await nc.close();
    throw new EventBusUnavailable(`cannot create the JetStream stream NATS_STREAM=${options.stream}: ${error instanceof Error ? error.message : "unknown error"}`, { cause: error });
  }
  const js = jetstream(nc);
  const subscriptions = new Set<() => Promise<void>>();

  return {
    kind: "jetstream",
    readiness: { name: "nats", check: async () => { await jsm.streams.info(options.stream); } },

    async publish(messages: readonly Addressed[]) {
      // One at a time: each ack is awaited, so messages to one node keep their order.
      for (const { domain, nodeId, message } of messages) {
        const subject = nodeSubject(options.subjectPrefix, domain, nodeId);
        if (message.kind === "event") {
          await js.publish(subject, message.envelope);
        } else {
          const control = headers();
          control.set(CONTROL_HEADER, END_STREAMS);
          await js.publish(subject, undefined, { headers: control });
        }
      }
    },

    async subscribe(target, start, subscriber) {
      // Why not DeliverPolicy.New: the ordered consumer is created on the server after
      // consume() has returned, so an event published in between would be missed. Starting
      // after the stream's last sequence as read now misses nothing published after this.
      const after = start === "new" ? (await jsm.streams.info(options.stream)).state.last_seq : start.after;
      const consumer = await js.consumers.get(options.stream, {
        filter_subjects: nodeSubject(options.subjectPrefix, target.domain, target.nodeId),
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: after + 1,
      });
      const messages = await consumer.consume();
      const state = { closed: false };
      const close = async (): Promise<void> => {
        if (state.closed) return;
        state.closed = true;
        subscriptions.delete(close);
        await messages.close();
      };
      subscriptions.add(close);
      void (async () => {
        try {
          for await (const msg of messages) subscriber.deliver({ sequence: msg.seq, message: messageOf(msg) });
        } catch (error) {
          if (!state.closed) subscriber.fail(error);
        }
      })();
      return { close };
    },

    async close() {
      for (const close of [...subscriptions]) await close();
      await nc.close();
    },
  };
}
