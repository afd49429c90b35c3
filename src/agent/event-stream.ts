import { nodeBearerOf, type NodeCredentials } from "./node-client.ts";
import { SseParser, type SseItem } from "./sse-parser.ts";

/**
 * The node's event stream over fetch (`GET /v1/nodes/{id}/events`, text/event-stream), and
 * the reconnect loop around it: jittered exponential backoff, capped, reset by a connection
 * that opened; a connection silent for longer than the idle timeout (heartbeats are every
 * 15 s by default) is dropped and reopened.
 */

export const EVENT_SSE_TYPE = "custos-event";

/** A refusal before the stream started (401, 403 node_quarantined, 429 event_stream_limit, …). */
export class EventStreamRefused extends Error {
  readonly status: number;
  readonly code: string | undefined;
  constructor(status: number, code: string | undefined) {
    super(`the event stream was refused: HTTP ${String(status)}${code === undefined ? "" : ` ${code}`}`);
    this.name = "EventStreamRefused";
    this.status = status;
    this.code = code;
  }
}

export function eventsPath(nodeId: string): string {
  return `/v1/nodes/${nodeId}/events`;
}

/** Opens the stream; resolves once Custos has answered 200 with an event stream. */
export async function openEventStream(node: NodeCredentials, lastEventId: string | undefined, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
  const response = await fetch(`${node.url}${eventsPath(node.nodeId)}`, {
    headers: {
      authorization: `Bearer ${nodeBearerOf(node)}`,
      accept: "text/event-stream",
      ...(lastEventId === undefined ? {} : { "last-event-id": lastEventId }),
    },
    signal,
  });
  const type = response.headers.get("content-type") ?? "";
  if (response.status !== 200 || !type.startsWith("text/event-stream") || response.body === null) {
    let code: string | undefined;
    try {
      code = ((await response.json()) as { code?: unknown } | null)?.code as string | undefined;
    } catch {
      // Not problem+json: the status says enough.
    }
    throw new EventStreamRefused(response.status, typeof code === "string" ? code : undefined);
  }
  return response.body;
}

class IdleTimeout extends Error {}

/** The stream's items until it ends; throws when it is silent for `idleTimeoutMs` or aborted. */
export async function* readEventStream(body: ReadableStream<Uint8Array>, lastEventId: string | undefined, idleTimeoutMs: number): AsyncGenerator<SseItem> {
  const parser = new SseParser(lastEventId);
  const reader = body.getReader();
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(() => { reject(new IdleTimeout(`no byte in ${String(idleTimeoutMs)} ms`)); }, idleTimeoutMs);
      });
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await Promise.race([reader.read(), idle]);
      } finally {
        clearTimeout(timer);
      }
      if (chunk.done) return;
      yield* parser.push(chunk.value);
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

export interface BackoffSettings {
  readonly initialMs: number;
  readonly maxMs: number;
  /** 0 ≤ random() < 1; Math.random unless a test fixes it. */
  readonly random?: () => number;
}

/** "Full jitter": a uniform delay up to min(max, initial · 2^attempt). */
export function backoffDelayMs(attempt: number, settings: BackoffSettings): number {
  const ceiling = Math.min(settings.maxMs, settings.initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor((settings.random ?? Math.random)() * ceiling);
}

/** Sleeps `ms`, or less if `signal` aborts first (never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

export interface FollowHandlers {
  /** The credentials and Last-Event-ID to connect with (they change: rotation, applied events). */
  readonly connectWith: () => { readonly node: NodeCredentials; readonly lastEventId: string | undefined };
  /** The stream answered 200: before any of its events is read (the agent's full sync). */
  readonly onConnected: () => Promise<void>;
  /** The stream could not be opened or ended; `attempt` counts failures since the last open. */
  readonly onDisconnected: (error: unknown, attempt: number, delayMs: number) => void;
  readonly onMessage: (message: { readonly id: string | undefined; readonly event: string; readonly data: string }) => Promise<void>;
}

/** Follows the stream until `signal` aborts, reconnecting with backoff. */
export async function followEventStream(handlers: FollowHandlers, settings: BackoffSettings & { readonly idleTimeoutMs: number }, signal: AbortSignal): Promise<void> {
  let attempt = 0;
  // A function, not the property: the loop's condition would otherwise have TypeScript assume it stays false.
  const stopped = () => signal.aborted;
  while (!stopped()) {
    let failure: unknown;
    try {
      const { node, lastEventId } = handlers.connectWith();
      const body = await openEventStream(node, lastEventId, signal);
      attempt = 0;
      await handlers.onConnected();
      for await (const item of readEventStream(body, lastEventId, settings.idleTimeoutMs)) {
        if (item.kind === "message") await handlers.onMessage(item);
      }
      failure = new Error("the event stream ended");
    } catch (error) {
      failure = error;
    }
    if (stopped()) return;
    const delay = backoffDelayMs(attempt, settings);
    handlers.onDisconnected(failure, attempt, delay);
    attempt += 1;
    await sleep(delay, signal);
  }
}
