import { describe, expect, it } from "vitest";
import { AgentStartRefused } from "../../src/agent/agent-errors.ts";
import { parseReplayCache, ReplayCache, serializeReplayCache } from "../../src/agent/replay-cache.ts";

describe("the replay cache", () => {
  it("remembers a jti until its exp + leeway, and forgets it then", async () => {
    const cache = new ReplayCache(undefined, 30);
    await cache.remember("jti-a", 1000, 900);
    cache.prune(1029);
    expect(cache.has("jti-a")).toBe(true);
    cache.prune(1030);
    expect(cache.has("jti-a")).toBe(false);
  });

  it("prunes the expired entries whenever it remembers a new one", async () => {
    const cache = new ReplayCache(undefined, 0);
    await cache.remember("old", 100, 50);
    await cache.remember("new", 300, 200);
    expect([cache.has("old"), cache.has("new"), cache.size]).toEqual([false, true, 1]);
  });

  it("reads back what it writes", () => {
    const entries = new Map([["jti-a", 1000], ["jti-b", 2000]]);
    expect(parseReplayCache(serializeReplayCache(entries), "cache.json")).toEqual(entries);
  });

  it.each([
    ["not JSON", "{\"format\": \"custos-agent-replay-cache/1\", \"jtis\": {"],
    ["another format", JSON.stringify({ format: "something-else", jtis: {} })],
    ["no jti map", JSON.stringify({ format: "custos-agent-replay-cache/1", jtis: [] })],
    ["an exp that is not whole seconds", JSON.stringify({ format: "custos-agent-replay-cache/1", jtis: { a: "soon" } })],
  ])("refuses a file holding %s with replay_cache_corrupt, naming the file", (_, text) => {
    let refusal: unknown;
    try {
      parseReplayCache(text, "/state/replay-cache.json");
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(AgentStartRefused);
    expect(refusal).toMatchObject({ code: "replay_cache_corrupt", message: expect.stringContaining("/state/replay-cache.json") as unknown });
  });
});
