import { POLICIES_DIR } from "../../src/package-paths.ts";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/platform/config.ts";

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, "/srv/custos");
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

const STRONG_TOKEN = "k".repeat(43);

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
});
