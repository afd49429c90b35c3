import path from "node:path";
import { errorFields, type AgentLog } from "./agent-log.ts";
import { ensureStateDir } from "./agent-state.ts";
import { applyRotatedEventKeys, fetchEventKeys, pinnedEventKeysAtStart, requireThumbprint, type PinningSettings } from "./event-key-pinning.ts";
import { EVENT_SSE_TYPE, followEventStream } from "./event-stream.ts";
import { EventRefused, verifyEventEnvelope, type EventPublicJwk } from "./event-envelope.ts";
import type { NodeCredentials } from "./node-client.ts";
import { openReplayCache, ReplayCache } from "./replay-cache.ts";

/**
 * `custos node watch`: each verified event as one JSON line on stdout (`type`, `jti`, `iat`,
 * `data`), each refusal as one JSON line on stderr (its code, never the envelope). It applies
 * nothing but a verified keys.rotated to its own pins. With a state directory it pins there
 * (the agent's files, so the same trust) but keeps its own replay cache: an event the watcher
 * saw must still reach the agent. Without one, keys are pinned in memory for the run.
 */

export interface WatchOptions {
  readonly node: NodeCredentials;
  readonly domain: string;
  readonly eventKeyThumbprint: string | undefined;
  readonly stateDir: string | undefined;
  readonly leewaySeconds: number;
  readonly log: AgentLog;
  readonly print: (line: string) => void;
  readonly signal: AbortSignal;
}

export const WATCH_REPLAY_CACHE = "watch-replay-cache.json";

async function keysInMemory(options: WatchOptions): Promise<readonly EventPublicJwk[]> {
  const keys = await fetchEventKeys(options.node.url, options.domain);
  await requireThumbprint(keys, options.eventKeyThumbprint);
  if (options.eventKeyThumbprint === undefined) options.log.warn("TRUST ON FIRST USE: event keys taken from this fetch without --event-key-thumbprint");
  return keys;
}

export async function watchEvents(options: WatchOptions): Promise<void> {
  const { log, signal } = options;
  const now = () => Math.floor(Date.now() / 1000);
  let keys: readonly EventPublicJwk[];
  let replayCache: ReplayCache;
  let pinning: PinningSettings | undefined;
  if (options.stateDir === undefined) {
    keys = await keysInMemory(options);
    replayCache = new ReplayCache(undefined, options.leewaySeconds);
  } else {
    await ensureStateDir(options.stateDir);
    pinning = { url: options.node.url, domain: options.domain, stateDir: options.stateDir, eventKeyThumbprint: options.eventKeyThumbprint };
    keys = (await pinnedEventKeysAtStart(pinning, log, new Date())).keys;
    replayCache = await openReplayCache(path.join(options.stateDir, WATCH_REPLAY_CACHE), options.leewaySeconds, now());
  }

  await followEventStream(
    {
      connectWith: () => ({ node: options.node, lastEventId: undefined }),
      onConnected: () => Promise.resolve(),
      onDisconnected: (error, attempt, delayMs) => {
        log.warn("event stream closed; reconnecting", { attempt, delay_ms: delayMs, ...errorFields(error) });
      },
      onMessage: async (message) => {
        try {
          if (message.event !== EVENT_SSE_TYPE) throw new EventRefused("event_malformed", "not a custos-event message");
          const event = verifyEventEnvelope(message.data, { keys, domain: options.domain, nodeId: options.node.nodeId, now: now(), leewaySeconds: options.leewaySeconds, seen: (jti) => replayCache.has(jti) });
          await replayCache.remember(event.jti, event.exp, now());
          options.print(`${JSON.stringify({ type: event.type, jti: event.jti, iat: event.iat, data: event.data })}\n`);
          if (event.type === "keys.rotated") {
            keys = pinning === undefined ? event.data.keys : (await applyRotatedEventKeys(pinning, log, keys, event.data.keys, new Date())).keys;
          }
        } catch (error) {
          if (!(error instanceof EventRefused)) throw error;
          log.warn("event refused", { code: error.code, event_id: message.id, why: error.message });
        }
      },
    },
    { initialMs: 500, maxMs: 30_000, idleTimeoutMs: 45_000 },
    signal,
  );
}
