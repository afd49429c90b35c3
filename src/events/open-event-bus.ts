import type { EventsConfig } from "../platform/config.ts";
import type { EventBus } from "./event-bus.ts";
import { createInProcessBus } from "./in-process-bus.ts";
import { openJetStreamBus } from "./jetstream-bus.ts";

/** JetStream when NATS_URL is set (every replica sees every event); the in-process bus otherwise (one replica). */
export async function openEventBus(config: EventsConfig): Promise<EventBus> {
  if (config.nats === undefined) return createInProcessBus({ retainPerNode: config.retainPerNode, retentionSeconds: config.retentionSeconds });
  return openJetStreamBus({ ...config.nats, retentionSeconds: config.retentionSeconds });
}
