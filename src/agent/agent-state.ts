import { createHash } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { replaceFileAtomically } from "../platform/durable-files.ts";
import { AgentStartRefused } from "./agent-errors.ts";
import { isEventPublicJwk, type EventPublicJwk } from "./event-envelope.ts";

/**
 * The agent's state directory (0700): what it must remember across restarts, each in its own
 * file written atomically.
 *
 *   event-keys.json    the pinned event keys (changed only by a verified keys.rotated or --trust)
 *   replay-cache.json  jti → exp of every accepted envelope still within its lifetime
 *   last-event-id      the stream sequence of the last applied event (sent as Last-Event-ID)
 *   node-key.json      the kid of the NSK in the NSK file, once the agent has rotated it
 *
 * Why a node-key file: the NSK file holds the NSK alone (as `custos node fetch` reads it), and
 * the configuration holds the kid the node was enrolled with, so the kid a rotation brings
 * must be kept somewhere that survives a restart. The file names the current and previous
 * kid with a check value of each NSK (a SHA-256 under a label, which tells nothing of the
 * NSK); at start the one matching the NSK file wins, so a crash between writing this file and
 * the NSK file leaves a pair that still authenticates.
 */

export const STATE_FILES = {
  eventKeys: "event-keys.json",
  replayCache: "replay-cache.json",
  lastEventId: "last-event-id",
  nodeKey: "node-key.json",
} as const;

const PINNED_FORMAT = "custos-agent-event-keys/1";
const NODE_KEY_FORMAT = "custos-agent-node-key/1";
const EVENT_ID = /^\d{1,20}$/;

export function stateFile(stateDir: string, name: keyof typeof STATE_FILES): string {
  return path.join(stateDir, STATE_FILES[name]);
}

export async function ensureStateDir(stateDir: string): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new AgentStartRefused("state_corrupt", `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new AgentStartRefused("state_corrupt", `${file} is not JSON: refusing to start`);
  }
}

// --- pinned event keys ---

export interface PinnedEventKeys {
  readonly pinnedAt: string;
  readonly keys: readonly EventPublicJwk[];
}

export async function readPinnedEventKeys(stateDir: string): Promise<PinnedEventKeys | undefined> {
  const file = stateFile(stateDir, "eventKeys");
  const text = await readOptional(file);
  if (text === undefined) return undefined;
  const parsed = parseJson(text, file) as { format?: unknown; pinned_at?: unknown; keys?: unknown };
  if (parsed.format !== PINNED_FORMAT || typeof parsed.pinned_at !== "string" || !Array.isArray(parsed.keys) || parsed.keys.length === 0 || !parsed.keys.every(isEventPublicJwk)) {
    throw new AgentStartRefused("state_corrupt", `${file} is not a ${PINNED_FORMAT} file with at least one event key: refusing to start (re-pin with --trust)`);
  }
  return { pinnedAt: parsed.pinned_at, keys: parsed.keys };
}

export async function writePinnedEventKeys(stateDir: string, keys: readonly EventPublicJwk[], now: Date): Promise<PinnedEventKeys> {
  const pinned = { pinnedAt: now.toISOString(), keys };
  await replaceFileAtomically(stateFile(stateDir, "eventKeys"), `${JSON.stringify({ format: PINNED_FORMAT, pinned_at: pinned.pinnedAt, keys }, null, 2)}\n`);
  return pinned;
}

// --- last applied event ---

export async function readLastEventId(stateDir: string): Promise<string | undefined> {
  const file = stateFile(stateDir, "lastEventId");
  const text = await readOptional(file);
  if (text === undefined) return undefined;
  const id = text.trim();
  if (!EVENT_ID.test(id)) throw new AgentStartRefused("state_corrupt", `${file} does not hold a stream sequence: refusing to start`);
  return id;
}

export async function writeLastEventId(stateDir: string, id: string): Promise<void> {
  await replaceFileAtomically(stateFile(stateDir, "lastEventId"), `${id}\n`);
}

/** Only a decimal sequence is remembered and sent back: anything else in `id:` is not the contract's. */
export function isStreamSequence(id: string | undefined): id is string {
  return id !== undefined && EVENT_ID.test(id);
}

// --- the kid of the NSK file ---

export function nskCheck(nsk: Uint8Array): string {
  return createHash("sha256").update("custos/agent/nsk-check\n").update(nsk).digest("base64url").slice(0, 22);
}

interface NodeKeyEntry {
  readonly kid: string;
  readonly check: string;
}

function isNodeKeyEntry(value: unknown): value is NodeKeyEntry {
  const entry = value as { kid?: unknown; check?: unknown } | null;
  return typeof entry === "object" && entry !== null && typeof entry.kid === "string" && typeof entry.check === "string";
}

/**
 * The kid of `nsk`: the state's entry whose check matches, or the configured (enrollment) kid
 * when the agent has never rotated. A state naming neither this NSK's kid is a refusal: the
 * NSK file was replaced behind the agent's back, and guessing a kid would only be refused.
 */
export async function resolveNodeKid(stateDir: string, nsk: Uint8Array, configuredKid: string): Promise<string> {
  const file = stateFile(stateDir, "nodeKey");
  const text = await readOptional(file);
  if (text === undefined) return configuredKid;
  const parsed = parseJson(text, file) as { format?: unknown; current?: unknown; previous?: unknown };
  if (parsed.format !== NODE_KEY_FORMAT || !isNodeKeyEntry(parsed.current) || (parsed.previous !== undefined && !isNodeKeyEntry(parsed.previous))) {
    throw new AgentStartRefused("state_corrupt", `${file} is not a ${NODE_KEY_FORMAT} file: refusing to start`);
  }
  const check = nskCheck(nsk);
  for (const entry of [parsed.current, parsed.previous]) if (isNodeKeyEntry(entry) && entry.check === check) return entry.kid;
  throw new AgentStartRefused("nsk_unreadable", `the NSK file matches neither kid in ${file}: was it replaced? Put the kid of the new NSK in the configuration and remove ${file}`);
}

/** Records a rotation before the NSK file is rewritten (see above for why both kids are kept). */
export async function writeNodeKid(stateDir: string, current: { kid: string; nsk: Uint8Array }, previous: { kid: string; nsk: Uint8Array }): Promise<void> {
  const content = {
    format: NODE_KEY_FORMAT,
    current: { kid: current.kid, check: nskCheck(current.nsk) },
    previous: { kid: previous.kid, check: nskCheck(previous.nsk) },
  };
  await replaceFileAtomically(stateFile(stateDir, "nodeKey"), `${JSON.stringify(content, null, 2)}\n`);
}
