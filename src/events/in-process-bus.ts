import type { Addressed, BusSubscriber, Delivered, EventBus } from "./event-bus.ts";

export interface InProcessBusOptions {
  /** At most this many messages are retained per node; the oldest go first. */
  readonly retainPerNode: number;
  /** Messages older than this are dropped (checked at each publish and subscribe). */
  readonly retentionSeconds: number;
  /** Epoch milliseconds; tests move time. */
  readonly nowMs?: () => number;
}

interface Retained extends Delivered {
  readonly atMs: number;
}

/**
 * The embedded bus (`custos dev`, one replica): per-node retention bounded by count and age,
 * one sequence counter for the whole bus so that sequences strictly increase along every
 * node's stream. Publishing and subscribing are synchronous under the hood, so a subscriber
 * that replays the retained messages and then listens can miss nothing in between.
 */
export function createInProcessBus(options: InProcessBusOptions): EventBus {
  const nowMs = options.nowMs ?? Date.now;
  const retained = new Map<string, Retained[]>();
  const listeners = new Map<string, Set<BusSubscriber>>();
  let sequence = 0;
  const keyOf = (domain: string, nodeId: string): string => `${domain}\u0000${nodeId}`;

  function prune(key: string): Retained[] {
    const oldest = nowMs() - options.retentionSeconds * 1000;
    const kept = (retained.get(key) ?? []).filter((each) => each.atMs >= oldest).slice(-options.retainPerNode);
    if (kept.length === 0) retained.delete(key);
    else retained.set(key, kept);
    return kept;
  }

  return {
    kind: "in-process",
    readiness: undefined,

    publish(messages: readonly Addressed[]) {
      for (const { domain, nodeId, message } of messages) {
        const key = keyOf(domain, nodeId);
        sequence += 1;
        const delivered: Retained = { sequence, message, atMs: nowMs() };
        retained.set(key, [...prune(key), delivered].slice(-options.retainPerNode));
        for (const listener of listeners.get(key) ?? []) listener.deliver({ sequence: delivered.sequence, message });
      }
      return Promise.resolve();
    },

    subscribe(target, start, subscriber) {
      const key = keyOf(target.domain, target.nodeId);
      if (start !== "new") {
        for (const each of prune(key)) if (each.sequence > start.after) subscriber.deliver({ sequence: each.sequence, message: each.message });
      }
      const set = listeners.get(key) ?? new Set<BusSubscriber>();
      set.add(subscriber);
      listeners.set(key, set);
      return Promise.resolve({
        close() {
          set.delete(subscriber);
          if (set.size === 0 && listeners.get(key) === set) listeners.delete(key);
          return Promise.resolve();
        },
      });
    },

    close() {
      listeners.clear();
      retained.clear();
      return Promise.resolve();
    },
  };
}
