import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/platform/config.ts";

function refusal(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, "/srv/custos");
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig: signed events", () => {
  it("defaults to the in-process bus, 60 s envelopes, 15 s heartbeats, 2 streams per node, an hour of retention", () => {
    expect(loadConfig({}, "/srv/custos").events).toEqual({
      ttlSeconds: 60, heartbeatSeconds: 15, maxStreamsPerNode: 2, retentionSeconds: 3600, retainPerNode: 1000, nats: undefined,
    });
  });

  it("takes NATS_URL with the stream CUSTOS_EVENTS and subjects under custos.events by default", () => {
    expect(loadConfig({ NATS_URL: "nats://127.0.0.1:4222" }).events.nats).toEqual({
      url: "nats://127.0.0.1:4222", stream: "CUSTOS_EVENTS", subjectPrefix: "custos.events", retentionBytes: 256 * 1024 * 1024,
    });
  });

  it("accepts EVENTS_TTL_SECONDS of exactly 10 and 300, and refuses 9 and 301 naming it", () => {
    expect(loadConfig({ EVENTS_TTL_SECONDS: "10" }).events.ttlSeconds).toBe(10);
    expect(loadConfig({ EVENTS_TTL_SECONDS: "300" }).events.ttlSeconds).toBe(300);
    for (const value of ["9", "301", "sixty"]) {
      const error = refusal({ EVENTS_TTL_SECONDS: value });
      expect(error.variable).toBe("EVENTS_TTL_SECONDS");
      expect(error.message).toMatch(/^invalid configuration: EVENTS_TTL_SECONDS must be a whole number from 10 to 300/);
    }
  });

  it.each([
    ["not a url", "must be a URL"],
    ["http://127.0.0.1:4222", "must use one of nats:, tls:"],
  ])("refuses NATS_URL=%s naming it (%s)", (value, problem) => {
    const error = refusal({ NATS_URL: value });
    expect(error.variable).toBe("NATS_URL");
    expect(error.message).toContain(problem);
  });

  it("refuses a stream name or subject prefix NATS would misread, and NATS settings without NATS_URL", () => {
    expect(refusal({ NATS_URL: "nats://h:4222", NATS_STREAM: "a.b" }).variable).toBe("NATS_STREAM");
    expect(refusal({ NATS_URL: "nats://h:4222", NATS_SUBJECT_PREFIX: "custos.*" }).variable).toBe("NATS_SUBJECT_PREFIX");
    expect(refusal({ NATS_URL: "nats://h:4222", NATS_SUBJECT_PREFIX: "custos..events" }).variable).toBe("NATS_SUBJECT_PREFIX");
    expect(refusal({ NATS_STREAM: "MINE" }).message).toBe("invalid configuration: NATS_STREAM is for the NATS event bus: set NATS_URL too");
  });

  it("bounds the heartbeat, the stream limit and the retention, naming each", () => {
    expect(refusal({ EVENTS_HEARTBEAT_SECONDS: "0" }).variable).toBe("EVENTS_HEARTBEAT_SECONDS");
    expect(refusal({ EVENTS_MAX_STREAMS_PER_NODE: "0" }).variable).toBe("EVENTS_MAX_STREAMS_PER_NODE");
    expect(refusal({ EVENTS_RETENTION_SECONDS: "59" }).variable).toBe("EVENTS_RETENTION_SECONDS");
    expect(refusal({ NATS_URL: "nats://h:4222", EVENTS_RETENTION_BYTES: "1" }).variable).toBe("EVENTS_RETENTION_BYTES");
  });
});
