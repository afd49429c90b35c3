import { mkdir } from "node:fs/promises";
import path from "node:path";
import { replaceFileAtomically } from "../platform/durable-files.ts";
import type { AgentConfig, SecretFileConfig } from "./agent-config.ts";
import { errorFields, type AgentLog } from "./agent-log.ts";
import { ensureStateDir, isStreamSequence, readLastEventId, resolveNodeKid, stateFile, writeLastEventId, writeNodeKid } from "./agent-state.ts";
import { applyRotatedEventKeys, pinnedEventKeysAtStart, repinEventKeys, type PinningSettings } from "./event-key-pinning.ts";
import { EVENT_SSE_TYPE, followEventStream } from "./event-stream.ts";
import { EventRefused, verifyEventEnvelope, type EventPublicJwk, type VerifiedEvent } from "./event-envelope.ts";
import { fetchNodeSecret, readNskFile, rotateNodeNsk, type NodeCredentials } from "./node-client.ts";
import { openReplayCache, type ReplayCache } from "./replay-cache.ts";
import { removeSecretFile, runReloadCommand, writeSecretFile } from "./secret-files.ts";

/**
 * `custos node agent`: keeps the configured secrets on disk current by following the node's
 * signed event stream (docs/design.md, "Node agent").
 *
 * One event at a time, in stream order: verify (refused → logged by code, nothing on disk
 * changes) → remember its jti in the on-disk replay cache → apply → remember its stream
 * sequence as Last-Event-ID. The jti is made durable before the event is applied, so a crash
 * mid-way can lose an event (the full sync at the next connection repairs secrets) but never
 * apply one twice.
 */

export interface AgentRunOptions {
  readonly config: AgentConfig;
  readonly log: AgentLog;
  /** Stops following the stream (SIGTERM, SIGINT). */
  readonly signal: AbortSignal;
  /** Full sync, then exit: 0 when every secret was written, 1 otherwise. */
  readonly once: boolean;
  /** Fetch and pin the domain's event keys again, saying what changed, then run as usual. */
  readonly trust: boolean;
  /** Epoch milliseconds; Date.now unless a test moves it. */
  readonly clock?: () => number;
}

const BACKOFF_INITIAL_MS = 500;

export async function runAgent(options: AgentRunOptions): Promise<number> {
  const { config, log, signal } = options;
  const clock = options.clock ?? Date.now;
  const nowSeconds = () => Math.floor(clock() / 1000);

  await ensureStateDir(config.stateDir);
  if (config.grantsDir !== undefined) await mkdir(config.grantsDir, { recursive: true, mode: 0o700 });
  const nsk = await readNskFile(config.nskFile);
  let node: NodeCredentials = { url: config.url, nodeId: config.nodeId, kid: await resolveNodeKid(config.stateDir, nsk, config.kid), nsk };
  const secretsByName = new Map(config.secrets.map((secret) => [secret.name, secret]));

  async function syncSecret(secret: SecretFileConfig): Promise<boolean> {
    let value: Buffer | undefined;
    try {
      const fetched = await fetchNodeSecret(node, secret.name);
      value = fetched.value;
      const outcome = await writeSecretFile(secret, value);
      log.info(outcome === "written" ? "secret written" : "secret unchanged", { secret: secret.name, version: fetched.version, path: secret.path });
      if (outcome === "written") await reload(secret);
      return true;
    } catch (error) {
      log.error("secret not synced", { secret: secret.name, path: secret.path, ...errorFields(error) });
      return false;
    } finally {
      value?.fill(0);
    }
  }

  async function reload(secret: SecretFileConfig): Promise<void> {
    if (secret.reload === undefined) return;
    const outcome = await runReloadCommand(secret.reload, secret.reloadTimeoutMs);
    if (outcome.ok) log.info("reload command ran", { secret: secret.name });
    else log.error("reload command failed", { secret: secret.name, why: outcome.why });
  }

  async function fullSync(): Promise<number> {
    let failed = 0;
    for (const secret of config.secrets) if (!(await syncSecret(secret))) failed += 1;
    log.info("full sync done", { secrets: config.secrets.length, failed });
    return failed;
  }

  if (options.once) return (await fullSync()) === 0 ? 0 : 1;

  const pinning: PinningSettings = { url: config.url, domain: config.domain, stateDir: config.stateDir, eventKeyThumbprint: config.eventKeyThumbprint };
  let keys: readonly EventPublicJwk[] = (options.trust ? await repinEventKeys(pinning, log, new Date(clock())) : await pinnedEventKeysAtStart(pinning, log, new Date(clock()))).keys;
  const replayCache: ReplayCache = await openReplayCache(stateFile(config.stateDir, "replayCache"), config.leewaySeconds, nowSeconds());
  let lastEventId = await readLastEventId(config.stateDir);
  log.info("agent started", { node_id: config.nodeId, kid: node.kid, domain: config.domain, last_event_id: lastEventId, pinned_keys: keys.length });
  // On start, whether or not the stream opens (a node whose stream is refused still gets its secrets), and again on every connection.
  await fullSync();

  async function apply(event: VerifiedEvent): Promise<void> {
    switch (event.type) {
      case "secret.updated": {
        const secret = secretsByName.get(event.data.name);
        if (secret === undefined) log.info("secret.updated for a secret not configured here: ignored", { secret: event.data.name });
        else await syncSecret(secret);
        return;
      }
      case "secret.revoked": {
        const secret = secretsByName.get(event.data.name);
        if (secret === undefined) {
          log.info("secret.revoked for a secret not configured here: ignored", { secret: event.data.name });
          return;
        }
        log.warn(`secret file ${await removeSecretFile(secret)}: the secret was revoked`, { secret: secret.name, path: secret.path });
        return;
      }
      case "nsk.rotate_requested": {
        const previous = node;
        const rotated = await rotateNodeNsk(
          previous,
          async (next) => {
            // The state first: a crash before the NSK file is rewritten leaves the old NSK, whose kid the state still names.
            await writeNodeKid(config.stateDir, next, previous);
            await replaceFileAtomically(config.nskFile, `${next.nsk.toString("base64url")}\n`);
            node = { ...previous, kid: next.kid, nsk: Buffer.from(next.nsk) };
          },
          { now: nowSeconds(), where: config.nskFile },
        );
        log.warn("NSK rotated on request", { kid: rotated.kid, previous_kid: rotated.previousKid, previous_retires_at: rotated.previousRetiresAt, nsk_file: config.nskFile, kid_kept_in: stateFile(config.stateDir, "nodeKey") });
        return;
      }
      case "keys.rotated":
        keys = (await applyRotatedEventKeys(pinning, log, keys, event.data.keys, new Date(clock()))).keys;
        return;
      case "grant.issued": {
        // The file is named by the grant's jti: only a jti that is a plain file name is written.
        const file = config.grantsDir !== undefined && /^[A-Za-z0-9_-]{1,64}$/.test(event.data.jti) ? path.join(config.grantsDir, `${event.data.jti}.jwt`) : undefined;
        if (file !== undefined) await replaceFileAtomically(file, `${event.data.grant}\n`);
        log.info("grant issued to this node", { grant_jti: event.data.jti, expires_at: event.data.expires_at, written_to: file });
        return;
      }
      case "node.quarantined":
        log.warn("this node was quarantined: Custos refuses its reads and ends its stream until the quarantine is lifted");
        return;
      case "node.released":
        log.info("this node's quarantine was lifted");
        return;
    }
  }

  async function onMessage(message: { id: string | undefined; event: string; data: string }): Promise<void> {
    if (message.event !== EVENT_SSE_TYPE) {
      log.warn("event refused", { code: "event_malformed", event_id: message.id, why: "not a custos-event message" });
      return;
    }
    let event: VerifiedEvent;
    try {
      event = verifyEventEnvelope(message.data, { keys, domain: config.domain, nodeId: config.nodeId, now: nowSeconds(), leewaySeconds: config.leewaySeconds, seen: (jti) => replayCache.has(jti) });
    } catch (error) {
      if (!(error instanceof EventRefused)) throw error;
      log.warn("event refused", { code: error.code, event_id: message.id, why: error.message });
      return;
    }
    await replayCache.remember(event.jti, event.exp, nowSeconds());
    log.info("event verified", { type: event.type, jti: event.jti, event_id: message.id, kid: event.kid });
    try {
      await apply(event);
    } catch (error) {
      log.error("event not applied", { type: event.type, jti: event.jti, ...errorFields(error) });
    }
    if (isStreamSequence(message.id)) {
      await writeLastEventId(config.stateDir, message.id);
      lastEventId = message.id;
    }
  }

  await followEventStream(
    {
      connectWith: () => ({ node, lastEventId }),
      onConnected: async () => {
        log.info("event stream open", { last_event_id: lastEventId });
        await fullSync();
      },
      onDisconnected: (error, attempt, delayMs) => {
        log.warn("event stream closed; reconnecting", { attempt, delay_ms: delayMs, ...errorFields(error) });
      },
      onMessage,
    },
    { initialMs: BACKOFF_INITIAL_MS, maxMs: config.reconnectMaxMs, idleTimeoutMs: config.idleTimeoutMs },
    signal,
  );
  log.info("agent stopped");
  return 0;
}
