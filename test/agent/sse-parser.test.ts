import { describe, expect, it } from "vitest";
import { readEventStream } from "../../src/agent/event-stream.ts";
import { SseParser, type SseItem } from "../../src/agent/sse-parser.ts";

const STREAM =
  "\uFEFF: heartbeat\n" +
  "id: 41\nevent: custos-event\ndata: aaa.bbb.ccc\n\n" +
  "id: 42\r\nevent: custos-event\r\ndata: first\r\ndata:second\r\n\r\n" +
  "retry: 1000\nunknown: field\ndata\n\n" +
  "id: 43\revent: custos-event\rdata: é✓\r\r" +
  ": heartbeat\n";

const EXPECTED: SseItem[] = [
  { kind: "comment", text: "heartbeat" },
  { kind: "message", id: "41", event: "custos-event", data: "aaa.bbb.ccc" },
  { kind: "message", id: "42", event: "custos-event", data: "first\nsecond" },
  { kind: "message", id: "42", event: "message", data: "" },
  { kind: "message", id: "43", event: "custos-event", data: "é✓" },
  { kind: "comment", text: "heartbeat" },
];

function parseInChunks(bytes: Uint8Array, cuts: readonly number[]): SseItem[] {
  const parser = new SseParser();
  const items: SseItem[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    items.push(...parser.push(bytes.subarray(start, cut)));
    start = cut;
  }
  return items;
}

describe("SseParser", () => {
  const bytes = new TextEncoder().encode(STREAM);

  it("parses id, event, data (joined lines) and comments, with LF, CRLF and CR line ends", () => {
    expect(parseInChunks(bytes, [])).toEqual(EXPECTED);
  });

  it("gives the same items however the bytes are cut: every single cut point, inside CRLF and inside UTF-8 sequences", () => {
    for (let cut = 1; cut < bytes.length; cut += 1) expect(parseInChunks(bytes, [cut]), `cut at ${String(cut)}`).toEqual(EXPECTED);
  });

  it("gives the same items one byte at a time", () => {
    expect(parseInChunks(bytes, Array.from({ length: bytes.length - 1 }, (_, index) => index + 1))).toEqual(EXPECTED);
  });

  it("dispatches nothing for a message that has not ended with a blank line", () => {
    const parser = new SseParser();
    expect(parser.push("id: 7\nevent: custos-event\ndata: half")).toEqual([]);
    expect(parser.push("\n\n")).toEqual([{ kind: "message", id: "7", event: "custos-event", data: "half" }]);
  });

  it("carries the last id over to messages without one, starting from the Last-Event-ID it resumed with", () => {
    const parser = new SseParser("12");
    expect(parser.push("data: x\n\nid: 13\ndata: y\n\ndata: z\n\n").map((item) => item.kind === "message" ? item.id : undefined)).toEqual(["12", "13", "13"]);
  });

  it("refuses a line that never ends beyond the bound, rather than growing without end", () => {
    const parser = new SseParser();
    expect(() => parser.push("data: ".padEnd((1 << 20) + 1, "x"))).toThrow(RangeError);
  });
});

describe("readEventStream()", () => {
  const streamOf = (chunks: readonly string[], thenStall = false) => new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
      if (!thenStall) controller.close();
    },
  });

  it("yields the messages and comments of a stream cut anywhere, then ends with it", async () => {
    const items: SseItem[] = [];
    for await (const item of readEventStream(streamOf(["id: 1\nevent: custos-event\nda", "ta: x.y.z\n", "\n: heartbeat\n"]), undefined, 60_000)) items.push(item);
    expect(items).toEqual([{ kind: "message", id: "1", event: "custos-event", data: "x.y.z" }, { kind: "comment", text: "heartbeat" }]);
  });

  it("gives up on a stream that goes silent (no heartbeat) rather than waiting for ever", async () => {
    const items: SseItem[] = [];
    const reading = (async () => {
      for await (const item of readEventStream(streamOf([": heartbeat\n"], true), undefined, 50)) items.push(item);
    })();
    await expect(reading).rejects.toThrow(/no byte in 50 ms/);
    expect(items).toEqual([{ kind: "comment", text: "heartbeat" }]);
  });
});
