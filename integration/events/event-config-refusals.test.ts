import { rm } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { runCli } from "../support/cli.ts";
import { seededDataDir } from "../support/stores.ts";

/** `custos serve` with a bad event setting stops before it listens, with one line naming it. */
describe("custos serve: event bus settings", () => {
  it.each([
    [{ NATS_URL: "http://127.0.0.1:4222" }, "NATS_URL"],
    [{ NATS_URL: "nats://127.0.0.1:4222", NATS_SUBJECT_PREFIX: "custos.>" }, "NATS_SUBJECT_PREFIX"],
    [{ EVENTS_TTL_SECONDS: "301" }, "EVENTS_TTL_SECONDS"],
    [{ EVENTS_TTL_SECONDS: "9" }, "EVENTS_TTL_SECONDS"],
  ])("refuses %j at start-up: exit 2, one line naming %s", async (env, variable) => {
    const result = await runCli(["serve"], env);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toEqual([expect.stringContaining(`invalid configuration: ${variable} `) as unknown]);
  });

  it("stops start-up when no NATS server answers at NATS_URL, naming NATS_URL", async () => {
    const dataDir = await seededDataDir("custos-nats-");
    try {
      const result = await runCli(["serve"], { CUSTOS_DATA_DIR: dataDir, CUSTOS_PORT: "0", NATS_URL: "nats://127.0.0.1:1" });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("cannot reach the NATS server named by NATS_URL");
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
