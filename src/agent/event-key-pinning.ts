import { calculateJwkThumbprint } from "jose";
import { AgentStartRefused } from "./agent-errors.ts";
import type { AgentLog } from "./agent-log.ts";
import { readPinnedEventKeys, writePinnedEventKeys, type PinnedEventKeys } from "./agent-state.ts";
import { isEventPublicJwk, type EventPublicJwk } from "./event-envelope.ts";

/**
 * Which event keys the agent believes. At first start it fetches the domain's JWKS and keeps
 * only `custos_use: "event"` keys; with `event_key_thumbprint` (what enrollment prints) one of
 * them must have that RFC 7638 thumbprint or start-up refuses; without it, the keys are
 * trusted on first use and the log says so loudly. After that the pinned set changes only
 * through a verified `keys.rotated` event or an explicit `--trust`, never by refetching: a
 * JWKS served by whoever sits on the path later is not believed.
 */

export interface PinningSettings {
  readonly url: string;
  readonly domain: string;
  readonly stateDir: string;
  readonly eventKeyThumbprint: string | undefined;
}

/** RFC 7638 SHA-256 thumbprint of an event key (only kty, crv, x count). */
export function eventKeyThumbprint(jwk: EventPublicJwk): Promise<string> {
  return calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, "sha256");
}

/** GET /v1/domains/{domain}/jwks.json, keeping only the event keys. */
export async function fetchEventKeys(url: string, domain: string): Promise<EventPublicJwk[]> {
  const where = `${url}/v1/domains/${domain}/jwks.json`;
  let body: unknown;
  try {
    const response = await fetch(where, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(15_000) });
    if (response.status !== 200) throw new Error(`HTTP ${String(response.status)}`);
    body = await response.json();
  } catch (error) {
    throw new AgentStartRefused("jwks_unavailable", `cannot fetch the domain's keys from ${where}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const keys = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new AgentStartRefused("jwks_unavailable", `${where} is not a JWK set`);
  const eventKeys = keys.filter(isEventPublicJwk);
  if (eventKeys.length === 0) throw new AgentStartRefused("event_key_not_pinned", `${where} publishes no event key (custos_use "event"): nothing to pin`);
  return eventKeys;
}

async function describe(keys: readonly EventPublicJwk[]): Promise<string> {
  const parts = await Promise.all(keys.map(async (key) => `${key.kid} (${await eventKeyThumbprint(key)})`));
  return parts.join(", ");
}

/** Refuses (event_key_thumbprint_mismatch) unless one of `keys` has the thumbprint, when one is configured. */
export async function requireThumbprint(keys: readonly EventPublicJwk[], thumbprint: string | undefined): Promise<void> {
  if (thumbprint === undefined) return;
  const thumbprints = await Promise.all(keys.map(eventKeyThumbprint));
  if (!thumbprints.includes(thumbprint)) {
    throw new AgentStartRefused("event_key_thumbprint_mismatch", `no event key the domain publishes has the configured event_key_thumbprint ${thumbprint} (published: ${await describe(keys)}): refusing to pin`);
  }
}

async function pinFetched(settings: PinningSettings, log: AgentLog, now: Date): Promise<PinnedEventKeys> {
  const keys = await fetchEventKeys(settings.url, settings.domain);
  await requireThumbprint(keys, settings.eventKeyThumbprint);
  return writePinnedEventKeys(settings.stateDir, keys, now);
}

/** The pinned keys, pinning them now if this is the first start. */
export async function pinnedEventKeysAtStart(settings: PinningSettings, log: AgentLog, now: Date): Promise<PinnedEventKeys> {
  const pinned = await readPinnedEventKeys(settings.stateDir);
  if (pinned !== undefined) return pinned;
  const fresh = await pinFetched(settings, log, now);
  const kids = await describe(fresh.keys);
  if (settings.eventKeyThumbprint === undefined) {
    log.warn("TRUST ON FIRST USE: event keys pinned without event_key_thumbprint; whoever answered this first fetch is believed from now on. Set event_key_thumbprint from the enrollment output to check them.", { keys: kids });
  } else {
    log.info("event keys pinned; the configured thumbprint matched", { keys: kids });
  }
  return fresh;
}

/** `--trust`: fetch and pin again, saying what changed. */
export async function repinEventKeys(settings: PinningSettings, log: AgentLog, now: Date): Promise<PinnedEventKeys> {
  const before = await readPinnedEventKeys(settings.stateDir).catch(() => undefined);
  const fresh = await pinFetched(settings, log, now);
  await logChange(log, "event keys re-pinned by --trust", before?.keys ?? [], fresh.keys);
  return fresh;
}

/** A verified keys.rotated: the published set replaces the pinned one. */
export async function applyRotatedEventKeys(settings: PinningSettings, log: AgentLog, before: readonly EventPublicJwk[], keys: readonly EventPublicJwk[], now: Date): Promise<PinnedEventKeys> {
  const pinned = await writePinnedEventKeys(settings.stateDir, keys, now);
  await logChange(log, "event keys re-pinned by a verified keys.rotated", before, keys);
  return pinned;
}

async function logChange(log: AgentLog, msg: string, before: readonly EventPublicJwk[], after: readonly EventPublicJwk[]): Promise<void> {
  const thumbprintsBefore = await Promise.all(before.map(eventKeyThumbprint));
  const thumbprintsAfter = await Promise.all(after.map(eventKeyThumbprint));
  const added = after.filter((_, index) => !thumbprintsBefore.includes(thumbprintsAfter[index] ?? ""));
  const removed = before.filter((_, index) => !thumbprintsAfter.includes(thumbprintsBefore[index] ?? ""));
  log.warn(msg, { added: (await describe(added)) || "none", removed: (await describe(removed)) || "none", pinned: await describe(after) });
}
