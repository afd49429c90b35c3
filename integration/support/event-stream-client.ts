import type { ProblemDocument } from "../../src/http/problem.ts";

/** One thing read off an event stream: a message, a heartbeat comment, or the server's end. */
export type StreamItem =
  | { readonly kind: "event"; readonly id: number; readonly event: string; readonly data: string }
  | { readonly kind: "heartbeat" }
  | { readonly kind: "end" };

export interface EventStreamClient {
  readonly status: number;
  readonly headers: Headers;
  /** The refusal's problem document (the stream never started). */
  readonly problem: ProblemDocument | undefined;
  /** The next item; rejects when nothing comes within `waitMs` (a hang is a failure, not a pass). */
  next(waitMs?: number): Promise<StreamItem>;
  /** The next message or end, skipping heartbeats. */
  nextEvent(waitMs?: number): Promise<Exclude<StreamItem, { kind: "heartbeat" }>>;
  /** Hangs up, as a node going away does. */
  close(): void;
}

/**
 * `GET /v1/nodes/{id}/events` as a node speaks it, parsing the SSE framing itself (no
 * EventSource: the tests see the exact lines, ids and comments the server sends).
 */
export async function openEventStream(baseUrl: string, nodeId: string, bearer: string, options: { lastEventId?: string } = {}): Promise<EventStreamClient> {
  const abort = new AbortController();
  const response = await fetch(`${baseUrl}/v1/nodes/${encodeURIComponent(nodeId)}/events`, {
    headers: { authorization: `Bearer ${bearer}`, accept: "text/event-stream", ...(options.lastEventId === undefined ? {} : { "last-event-id": options.lastEventId }) },
    signal: abort.signal,
  });
  if (response.status !== 200 || response.body === null) {
    const problem = (await response.json()) as ProblemDocument;
    return {
      status: response.status, headers: response.headers, problem,
      next: () => Promise.reject(new Error(`the stream was refused: ${String(response.status)}`)),
      nextEvent: () => Promise.reject(new Error(`the stream was refused: ${String(response.status)}`)),
      close: () => undefined,
    };
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const items: StreamItem[] = [];
  let ended = false;

  function parseBlocks(): void {
    for (let cut = buffer.indexOf("\n\n"); cut !== -1; cut = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const lines = block.split("\n");
      if (lines.every((line) => line.startsWith(":"))) {
        items.push({ kind: "heartbeat" });
        continue;
      }
      const field = (name: string): string => lines.find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2) ?? "";
      items.push({ kind: "event", id: Number(field("id")), event: field("event"), data: field("data") });
    }
  }

  async function next(waitMs = 15_000): Promise<StreamItem> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const item = items.shift();
      if (item !== undefined) return item;
      if (ended) return { kind: "end" };
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => { reject(new Error(`nothing arrived on the event stream within ${String(waitMs)} ms`)); }, Math.max(1, deadline - Date.now()));
      });
      try {
        const chunk = await Promise.race([reader.read(), timeout]);
        if (chunk.done) ended = true;
        else buffer += decoder.decode(chunk.value as Uint8Array, { stream: true });
        parseBlocks();
      } finally {
        clearTimeout(timer);
      }
    }
  }

  return {
    status: response.status,
    headers: response.headers,
    problem: undefined,
    next,
    async nextEvent(waitMs) {
      for (;;) {
        const item = await next(waitMs);
        if (item.kind !== "heartbeat") return item;
      }
    },
    close() {
      abort.abort();
      reader.cancel().catch(() => undefined);
    },
  };
}
