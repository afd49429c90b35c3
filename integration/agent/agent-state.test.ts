import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resolveNodeKid, stateFile, writeNodeKid } from "../../src/agent/agent-state.ts";
import { openReplayCache } from "../../src/agent/replay-cache.ts";
import { newNsk } from "../../src/nodes/nsk.ts";

/** The agent's state files on a real filesystem: what a restart (or a crash) finds. */
describe("the agent's state directory", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "custos-agent-state-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("uses the configured kid until the agent has rotated, then the kid recorded for the NSK in the file", async () => {
    const enrolled = newNsk();
    expect(await resolveNodeKid(dir, enrolled, "enrolled-kid")).toBe("enrolled-kid");
    const rotated = newNsk();
    await writeNodeKid(dir, { kid: "rotated-kid", nsk: rotated }, { kid: "enrolled-kid", nsk: enrolled });
    expect(await resolveNodeKid(dir, rotated, "enrolled-kid")).toBe("rotated-kid");
    expect(await readFile(stateFile(dir, "nodeKey"), "utf8")).not.toContain(rotated.toString("base64url"));
  });

  it("after a crash between recording the new kid and rewriting the NSK file, keeps using the old NSK with its own kid", async () => {
    const old = newNsk();
    await writeNodeKid(dir, { kid: "new-kid-00", nsk: newNsk() }, { kid: "old-kid-00", nsk: old });
    expect(await resolveNodeKid(dir, old, "enrolled-kid")).toBe("old-kid-00");
  });

  it("refuses an NSK file that matches neither recorded kid (replaced behind the agent's back) with nsk_unreadable", async () => {
    await writeNodeKid(dir, { kid: "new-kid-00", nsk: newNsk() }, { kid: "old-kid-00", nsk: newNsk() });
    await expect(resolveNodeKid(dir, newNsk(), "enrolled-kid")).rejects.toMatchObject({ code: "nsk_unreadable" });
  });

  it("keeps the replay cache across a restart, and refuses to open a corrupt one", async () => {
    const file = stateFile(dir, "replayCache");
    const before = await openReplayCache(file, 30, 1000);
    expect(before.size).toBe(0);
    await before.remember("jti-a", 1060, 1000);
    const after = await openReplayCache(file, 30, 1010);
    expect(after.has("jti-a")).toBe(true);
    // Past exp + leeway the entry goes at the next open: such an envelope is refused as expired anyway.
    expect((await openReplayCache(file, 30, 1090)).has("jti-a")).toBe(false);
    await writeFile(file, '{"format":"custos-agent-replay-cache/1","jtis":{"jti-a":');
    await expect(openReplayCache(file, 30, 1010)).rejects.toMatchObject({ code: "replay_cache_corrupt" });
  });
});
