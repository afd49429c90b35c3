import { describe, expect, it } from "vitest";
import { writeOrCut, type SseConnection } from "../../src/events/events.routes.ts";

/** A connection whose client reads nothing: every byte written stays unsent. */
function unreadConnection(): SseConnection & { destroyed: boolean; written: number } {
  const connection = {
    destroyed: false,
    written: 0,
    get writableLength() { return connection.written; },
    write(chunk: string) { connection.written += Buffer.byteLength(chunk); return false; },
    end() { /* not called here */ },
    destroy() { connection.destroyed = true; },
  };
  return connection;
}

describe("an event stream whose node stops reading", () => {
  it("is cut once more than the bound is left unsent, and not before", () => {
    const connection = unreadConnection();
    const event = "x".repeat(1000);
    for (let n = 0; n < 10; n += 1) writeOrCut(connection, event, 10_000);
    expect(connection.destroyed).toBe(false);
    writeOrCut(connection, event, 10_000);
    expect(connection.destroyed).toBe(true);
  });
});
