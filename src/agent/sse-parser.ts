/**
 * Server-Sent Events as the WHATWG HTML standard parses them ("Interpreting an event
 * stream"), for the node agent's stream over fetch. Chunks arrive cut anywhere (inside a
 * line, between CR and LF, inside a UTF-8 sequence): the parser keeps the unfinished line and
 * the decoder keeps unfinished bytes, so the messages never depend on where a chunk ended.
 */

export interface SseMessage {
  readonly kind: "message";
  /** The last `id:` seen, carried over from earlier messages as the standard says. */
  readonly id: string | undefined;
  /** `event:`, or "message" when absent. */
  readonly event: string;
  /** Every `data:` line of the message, joined with "\n". */
  readonly data: string;
}

/** A comment line (`: heartbeat`): proof the connection is alive. */
export interface SseComment {
  readonly kind: "comment";
  readonly text: string;
}

export type SseItem = SseMessage | SseComment;

/** One line longer than this is refused: a stream that never sends a newline must not grow memory without end. */
export const MAX_SSE_LINE_CHARS = 1 << 20;

export class SseParser {
  private readonly decoder = new TextDecoder("utf-8");
  private pending = "";
  /** A CR ended the previous chunk: an LF opening this one belongs to it. */
  private afterCarriageReturn = false;
  private lastEventId: string | undefined;
  private eventType = "";
  private data: string[] = [];
  private firstChunk = true;

  constructor(lastEventId?: string) {
    this.lastEventId = lastEventId;
  }

  /** Feeds bytes (or text), returns the items they completed. */
  push(chunk: Uint8Array | string): SseItem[] {
    let text = typeof chunk === "string" ? chunk : this.decoder.decode(chunk, { stream: true });
    if (this.firstChunk && text.length > 0) {
      this.firstChunk = false;
      // The standard strips one leading byte order mark.
      if (text.startsWith("\uFEFF")) text = text.slice(1);
    }
    if (this.afterCarriageReturn && text.startsWith("\n")) text = text.slice(1);
    this.afterCarriageReturn = false;
    const items: SseItem[] = [];
    let buffer = this.pending + text;
    let start = 0;
    for (;;) {
      const cr = buffer.indexOf("\r", start);
      const lf = buffer.indexOf("\n", start);
      const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
      if (end === -1) break;
      const line = buffer.slice(start, end);
      if (buffer[end] === "\r") {
        if (end + 1 === buffer.length) this.afterCarriageReturn = true;
        start = buffer[end + 1] === "\n" ? end + 2 : end + 1;
      } else {
        start = end + 1;
      }
      const item = this.line(line);
      if (item !== undefined) items.push(item);
    }
    buffer = buffer.slice(start);
    if (buffer.length > MAX_SSE_LINE_CHARS) throw new RangeError(`an event stream line is longer than ${String(MAX_SSE_LINE_CHARS)} characters`);
    this.pending = buffer;
    return items;
  }

  private line(line: string): SseItem | undefined {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return { kind: "comment", text: line.slice(1).trimStart() };
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.eventType = value;
        break;
      case "data":
        this.data.push(value);
        break;
      case "id":
        // An id holding NUL is ignored, as the standard says.
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      default:
        // `retry:` and unknown fields: the agent has its own backoff.
        break;
    }
    return undefined;
  }

  private dispatch(): SseMessage | undefined {
    const data = this.data;
    const event = this.eventType;
    this.data = [];
    this.eventType = "";
    if (data.length === 0) return undefined;
    return { kind: "message", id: this.lastEventId, event: event === "" ? "message" : event, data: data.join("\n") };
  }
}
