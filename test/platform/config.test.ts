import { POLICIES_DIR } from "../../src/package-paths.ts";
import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { ConfigError, loadConfig, longestRun, obviousTokenWeakness } from "../../src/platform/config.ts";

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, "/srv/custos");
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

// 32 random bytes, as `openssl rand -base64 32` and `openssl rand -hex 32` print them.
const STRONG_TOKEN = "q2Jx9vT0aLm3Zp8YwE1RkS7uN4cB6dHfGiOjV5Xy_-A";
const OPENSSL_BASE64_TOKEN = "3nH0q+Yk1w/9VxJr2sZtLb8cQ5mE7uFa4PgR6dWyN0I=";
const OPENSSL_HEX_TOKEN = "9f3c2a71e4b80d5f6a1c9e2b7d4f8031c6a5e9b2d7f4081e3c6a9b5d2f7e4a10";

describe("loadConfig", () => {
  it("uses the embedded defaults when nothing is set", () => {
    const config = loadConfig({}, "/srv/custos");
    expect(config).toMatchObject({
      host: "127.0.0.1",
      port: 8080,
      dataDir: "/srv/custos/.custos",
      databaseUrl: undefined,
      operatorToken: undefined,
      spicedb: undefined,
      openbao: undefined,
      oidcLeewaySeconds: 30,
      policiesDir: POLICIES_DIR,
      rateLimitStore: "memory",
      auditTimeoutMs: 2000,
      auditKeyFile: "/srv/custos/.custos/audit-signing-key.pem",
    });
  });

  it("resolves a relative CUSTOS_POLICIES_DIR against the working directory", () => {
    expect(loadConfig({ CUSTOS_POLICIES_DIR: "my-policies" }, "/srv/custos").policiesDir).toBe("/srv/custos/my-policies");
  });

  it("refuses a port that is not a number, naming CUSTOS_PORT", () => {
    const error = configError({ CUSTOS_PORT: "abc" });
    expect(error.variable).toBe("CUSTOS_PORT");
    expect(error.message).toMatch(/^invalid configuration: CUSTOS_PORT /);
  });

  it("refuses a port above 65535", () => {
    expect(configError({ CUSTOS_PORT: "70000" }).variable).toBe("CUSTOS_PORT");
  });

  it("accepts a leeway of exactly 120 seconds and refuses 121", () => {
    expect(loadConfig({ CUSTOS_OIDC_LEEWAY_SECONDS: "120" }).oidcLeewaySeconds).toBe(120);
    expect(configError({ CUSTOS_OIDC_LEEWAY_SECONDS: "121" }).variable).toBe("CUSTOS_OIDC_LEEWAY_SECONDS");
  });

  it("refuses a leeway of 500 seconds", () => {
    expect(configError({ CUSTOS_OIDC_LEEWAY_SECONDS: "500" }).variable).toBe("CUSTOS_OIDC_LEEWAY_SECONDS");
  });

  it("refuses a negative or fractional leeway", () => {
    expect(configError({ CUSTOS_OIDC_LEEWAY_SECONDS: "-1" }).variable).toBe("CUSTOS_OIDC_LEEWAY_SECONDS");
    expect(configError({ CUSTOS_OIDC_LEEWAY_SECONDS: "1.5" }).variable).toBe("CUSTOS_OIDC_LEEWAY_SECONDS");
  });

  it("refuses a guessable operator token without echoing it", () => {
    const error = configError({ CUSTOS_OPERATOR_TOKEN: "hunter2hunter2" });
    expect(error.variable).toBe("CUSTOS_OPERATOR_TOKEN");
    expect(error.message).not.toContain("hunter2");
  });

  it("accepts a 256-bit operator token in base64url", () => {
    expect(loadConfig({ CUSTOS_OPERATOR_TOKEN: STRONG_TOKEN }).operatorToken).toBe(STRONG_TOKEN);
  });

  it("refuses a DATABASE_URL that is not a PostgreSQL URL without echoing it", () => {
    const error = configError({ DATABASE_URL: "mysql://root:s3cret@db/custos" });
    expect(error.variable).toBe("DATABASE_URL");
    expect(error.message).not.toContain("s3cret");
  });

  it("refuses SPICEDB_ENDPOINT without SPICEDB_TOKEN", () => {
    expect(configError({ SPICEDB_ENDPOINT: "spicedb:50051" }).variable).toBe("SPICEDB_TOKEN");
  });

  it("refuses OPENBAO_ADDR without OPENBAO_TOKEN", () => {
    expect(configError({ OPENBAO_ADDR: "https://bao:8200" }).variable).toBe("OPENBAO_TOKEN");
  });

  it("refuses production without OpenBao, since the local backend is for development", () => {
    expect(configError({ NODE_ENV: "production" }).variable).toBe("OPENBAO_ADDR");
  });

  it("refuses the redis rate-limit store without REDIS_URL, naming it", () => {
    expect(configError({ CUSTOS_RATE_LIMIT_STORE: "redis" }).variable).toBe("REDIS_URL");
    expect(loadConfig({ CUSTOS_RATE_LIMIT_STORE: "redis", REDIS_URL: "redis://127.0.0.1:6379" }).rateLimitStore).toBe("redis");
  });

  it("refuses an unknown rate-limit store", () => {
    expect(configError({ CUSTOS_RATE_LIMIT_STORE: "memcached" }).variable).toBe("CUSTOS_RATE_LIMIT_STORE");
  });

  it("accepts operator tokens as openssl prints them (base64 with padding, and hex)", () => {
    expect(loadConfig({ CUSTOS_OPERATOR_TOKEN: OPENSSL_BASE64_TOKEN }).operatorToken).toBe(OPENSSL_BASE64_TOKEN);
    expect(loadConfig({ CUSTOS_OPERATOR_TOKEN: OPENSSL_HEX_TOKEN }).operatorToken).toBe(OPENSSL_HEX_TOKEN);
  });

  it.each([
    ["43 × a", "a".repeat(43)],
    ["64 × 0", "0".repeat(64)],
    ["a two-letter pattern", "ab".repeat(22)],
    ["an alphabet walk", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"],
    ["a hex walk", "0123456789abcdef".repeat(4)],
    ["a random token with a long run in it", "q2Jx9vT0aLm3Zp8YwE1RkS7uNaaaaaaGiOjV5Xy_-A0"],
    ["a repeated short pattern", "Q7x-".repeat(11)],
  ])("refuses an operator token that is obviously not random (%s), saying how to make one, without echoing it", (_label, token) => {
    const error = configError({ CUSTOS_OPERATOR_TOKEN: token });
    expect(error.variable).toBe("CUSTOS_OPERATOR_TOKEN");
    expect(error.message).toContain("openssl rand -base64 32");
    expect(error.message).not.toContain(token);
  });

  it("trusts no proxy by default, and reads a hop count, a list of ranges or false", () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ CUSTOS_TRUST_PROXY: "false" }).trustProxy).toBe(false);
    expect(loadConfig({ CUSTOS_TRUST_PROXY: "1" }).trustProxy).toBe(1);
    expect(loadConfig({ CUSTOS_TRUST_PROXY: "loopback, 10.0.0.0/8,fd00::/8, 192.0.2.7" }).trustProxy).toEqual([
      "loopback", "10.0.0.0/8", "fd00::/8", "192.0.2.7",
    ]);
  });

  it.each(["true", "yes", "11", "10.0.0.0/33", "fd00::/129", "10.0.0/8", "loopback,", "proxy.example.org"])(
    "refuses CUSTOS_TRUST_PROXY=%s, naming the variable",
    (value) => {
      expect(configError({ CUSTOS_TRUST_PROXY: value }).variable).toBe("CUSTOS_TRUST_PROXY");
    },
  );
});

describe("obviousTokenWeakness and longestRun", () => {
  it("schedules audit checkpoints hourly by default, with no record count, witness or mirror directory", () => {
    expect(loadConfig({}, "/srv/custos").auditSchedule).toEqual({
      checkpointIntervalSeconds: 3600, checkpointEveryRecords: undefined, witnessDir: undefined, mirrorDir: undefined,
    });
  });

  it("reads the checkpoint interval as seconds or with a unit, the record count, and the directories against the working directory", () => {
    const read = (env: Record<string, string>) => loadConfig(env, "/srv/custos").auditSchedule;
    expect(read({ CUSTOS_AUDIT_CHECKPOINT_INTERVAL: "90" }).checkpointIntervalSeconds).toBe(90);
    expect(read({ CUSTOS_AUDIT_CHECKPOINT_INTERVAL: "15m" }).checkpointIntervalSeconds).toBe(900);
    expect(read({ CUSTOS_AUDIT_CHECKPOINT_INTERVAL: "6h" }).checkpointIntervalSeconds).toBe(21_600);
    expect(read({ CUSTOS_AUDIT_CHECKPOINT_INTERVAL: "1d" }).checkpointIntervalSeconds).toBe(86_400);
    expect(read({ CUSTOS_AUDIT_CHECKPOINT_EVERY: "10000" }).checkpointEveryRecords).toBe(10_000);
    expect(read({ CUSTOS_AUDIT_WITNESS_DIR: "witness", CUSTOS_AUDIT_MIRROR_DIR: "/mnt/audit/mirror" })).toMatchObject({
      witnessDir: "/srv/custos/witness", mirrorDir: "/mnt/audit/mirror",
    });
  });

  it.each([
    ["CUSTOS_AUDIT_CHECKPOINT_INTERVAL", "59s"],
    ["CUSTOS_AUDIT_CHECKPOINT_INTERVAL", "8d"],
    ["CUSTOS_AUDIT_CHECKPOINT_INTERVAL", "1.5h"],
    ["CUSTOS_AUDIT_CHECKPOINT_INTERVAL", "h"],
    ["CUSTOS_AUDIT_CHECKPOINT_INTERVAL", "-1h"],
    ["CUSTOS_AUDIT_CHECKPOINT_INTERVAL", "1 hour"],
    ["CUSTOS_AUDIT_CHECKPOINT_EVERY", "0"],
    ["CUSTOS_AUDIT_CHECKPOINT_EVERY", "1e3"],
  ])("stops start-up over %s=%s, naming the setting", (name, value) => {
    const error = configError({ [name]: value });
    expect(error.variable).toBe(name);
    expect(error.message).toContain(JSON.stringify(value).slice(1, -1));
  });

  it("refuses one directory for both the witness files and the mirrors, naming CUSTOS_AUDIT_WITNESS_DIR", () => {
    expect(configError({ CUSTOS_AUDIT_WITNESS_DIR: "audit", CUSTOS_AUDIT_MIRROR_DIR: "/srv/custos/audit" }).variable).toBe("CUSTOS_AUDIT_WITNESS_DIR");
  });

  it("counts repeated and stepping runs, in either direction", () => {
    expect(longestRun("")).toBe(0);
    expect(longestRun("x")).toBe(1);
    expect(longestRun("xaaaay")).toBe(4);
    expect(longestRun("qabcdez")).toBe(5);
    expect(longestRun("9876x")).toBe(4);
    expect(longestRun("abab")).toBe(2);
  });

  it("finds nothing wrong with random tokens", () => {
    for (let i = 0; i < 50; i += 1) {
      expect(obviousTokenWeakness(randomBytes(32).toString("base64url"), "base64")).toBeUndefined();
      expect(obviousTokenWeakness(randomBytes(32).toString("hex"), "hex")).toBeUndefined();
    }
  });
});

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
      const error = configError({ EVENTS_TTL_SECONDS: value });
      expect(error.variable).toBe("EVENTS_TTL_SECONDS");
      expect(error.message).toMatch(/^invalid configuration: EVENTS_TTL_SECONDS must be a whole number from 10 to 300/);
    }
  });

  it.each([
    ["not a url", "must be a URL"],
    ["http://127.0.0.1:4222", "must use one of nats:, tls:"],
  ])("refuses NATS_URL=%s naming it (%s)", (value, problem) => {
    const error = configError({ NATS_URL: value });
    expect(error.variable).toBe("NATS_URL");
    expect(error.message).toContain(problem);
  });

  it("refuses a stream name or subject prefix NATS would misread, and NATS settings without NATS_URL", () => {
    expect(configError({ NATS_URL: "nats://h:4222", NATS_STREAM: "a.b" }).variable).toBe("NATS_STREAM");
    expect(configError({ NATS_URL: "nats://h:4222", NATS_SUBJECT_PREFIX: "custos.*" }).variable).toBe("NATS_SUBJECT_PREFIX");
    expect(configError({ NATS_URL: "nats://h:4222", NATS_SUBJECT_PREFIX: "custos..events" }).variable).toBe("NATS_SUBJECT_PREFIX");
    expect(configError({ NATS_STREAM: "MINE" }).message).toBe("invalid configuration: NATS_STREAM is for the NATS event bus: set NATS_URL too");
  });

  it("bounds the heartbeat, the stream limit and the retention, naming each", () => {
    expect(configError({ EVENTS_HEARTBEAT_SECONDS: "0" }).variable).toBe("EVENTS_HEARTBEAT_SECONDS");
    expect(configError({ EVENTS_MAX_STREAMS_PER_NODE: "0" }).variable).toBe("EVENTS_MAX_STREAMS_PER_NODE");
    expect(configError({ EVENTS_RETENTION_SECONDS: "59" }).variable).toBe("EVENTS_RETENTION_SECONDS");
    expect(configError({ NATS_URL: "nats://h:4222", EVENTS_RETENTION_BYTES: "1" }).variable).toBe("EVENTS_RETENTION_BYTES");
  });
});
