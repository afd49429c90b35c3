import path from "node:path";
import { POLICIES_DIR } from "../package-paths.ts";

/**
 * Configuration comes only from the environment (DESIGN.md, "Configuration"). Each setting
 * is parsed by one small function; the first invalid one stops start-up with a
 * ConfigError whose message names the variable.
 */
export interface SpiceDbServerConfig {
  readonly endpoint: string;
  readonly token: string;
  readonly insecure: boolean;
}

export interface OpenBaoConfig {
  readonly addr: string;
  readonly token: string;
  readonly kvMount: string;
  readonly transitMount: string;
  readonly transitKey: string;
}

export type RateLimitStoreKind = "memory" | "postgres" | "redis";
export type NodeEnv = "production" | "development" | "test";
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface Config {
  readonly nodeEnv: NodeEnv;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** PostgreSQL server; absent means embedded PGlite under dataDir. */
  readonly databaseUrl: string | undefined;
  /** The URL browsers reach Custos at (behind a proxy): sign-in callbacks, Secure cookies. */
  readonly publicUrl: string | undefined;
  /** Platform operator bearer; absent means platform calls answer 501 not_provisioned. */
  readonly operatorToken: string | undefined;
  readonly spicedb: SpiceDbServerConfig | undefined;
  readonly openbao: OpenBaoConfig | undefined;
  readonly oidcLeewaySeconds: number;
  readonly policiesDir: string;
  readonly rateLimitStore: RateLimitStoreKind;
  readonly redisUrl: string | undefined;
  /** Upper bound on one audit append before the request fails with audit_unavailable. */
  readonly auditTimeoutMs: number;
  /** How long a rotated-out NSK keeps authenticating its node. */
  readonly nskGraceSeconds: number;
  /** The Ed25519 key that signs audit checkpoints and mirror manifests (kept off the database). */
  readonly auditKeyFile: string;
  readonly logLevel: LogLevel;
}

export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, problem: string) {
    super(`invalid configuration: ${variable} ${problem}`);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

export const MAX_OIDC_LEEWAY_SECONDS = 120;

type Env = Readonly<Record<string, string | undefined>>;

function optional(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === "" ? undefined : value;
}

function integerIn(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) {
    throw new ConfigError(name, `must be a whole number from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  }
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ConfigError(name, `must be a whole number from ${min} to ${max} (got ${raw})`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${allowed.join(", ")} (got ${JSON.stringify(raw)})`);
  }
  return raw as T;
}

function booleanFlag(env: Env, name: string): boolean {
  const raw = optional(env, name);
  if (raw === undefined) return false;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new ConfigError(name, `must be true or false (got ${JSON.stringify(raw)})`);
}

function url(env: Env, name: string, protocols: readonly string[]): string | undefined {
  const raw = optional(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    // The value itself is not echoed: connection strings carry passwords.
    throw new ConfigError(name, "must be a URL");
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use one of ${protocols.join(", ")}`);
  }
  return raw;
}

/**
 * The operator token is a bearer with platform-wide power, so a guessable one is refused:
 * at least 256 bits, written as 43+ base64url characters or 64+ hex digits. It is never echoed.
 */
function operatorToken(env: Env): string | undefined {
  const name = "CUSTOS_OPERATOR_TOKEN";
  const raw = optional(env, name);
  if (raw === undefined) return undefined;
  const base64url = /^[A-Za-z0-9_-]{43,}$/.test(raw);
  const hex = /^[0-9a-fA-F]{64,}$/.test(raw);
  if (!base64url && !hex) {
    throw new ConfigError(name, "must be at least 256 random bits: 43+ base64url characters or 64+ hex digits");
  }
  return raw;
}

function host(env: Env): string {
  const name = "CUSTOS_HOST";
  const raw = optional(env, name) ?? "127.0.0.1";
  if (!/^[A-Za-z0-9.:\-[\]]+$/.test(raw)) {
    throw new ConfigError(name, `must be a host name or IP address (got ${JSON.stringify(raw)})`);
  }
  return raw;
}

function spicedb(env: Env): SpiceDbServerConfig | undefined {
  const endpoint = optional(env, "SPICEDB_ENDPOINT");
  if (endpoint === undefined) return undefined;
  if (!/^[A-Za-z0-9.\-[\]:]+:\d+$/.test(endpoint)) {
    throw new ConfigError("SPICEDB_ENDPOINT", "must be host:port");
  }
  const token = optional(env, "SPICEDB_TOKEN");
  if (token === undefined) throw new ConfigError("SPICEDB_TOKEN", "is required when SPICEDB_ENDPOINT is set");
  return { endpoint, token, insecure: booleanFlag(env, "SPICEDB_INSECURE") };
}

function openbao(env: Env): OpenBaoConfig | undefined {
  const addr = url(env, "OPENBAO_ADDR", ["http:", "https:"]);
  if (addr === undefined) return undefined;
  const token = optional(env, "OPENBAO_TOKEN");
  if (token === undefined) throw new ConfigError("OPENBAO_TOKEN", "is required when OPENBAO_ADDR is set");
  const mount = (name: string, fallback: string): string => {
    const value = optional(env, name) ?? fallback;
    if (!/^[A-Za-z0-9_-][A-Za-z0-9_./-]*$/.test(value)) throw new ConfigError(name, "must be a mount path");
    return value;
  };
  return {
    addr,
    token,
    kvMount: mount("OPENBAO_KV_MOUNT", "secret"),
    transitMount: mount("OPENBAO_TRANSIT_MOUNT", "transit"),
    transitKey: mount("OPENBAO_TRANSIT_KEY", "custos"),
  };
}

/** Parses the environment; throws ConfigError naming the first invalid variable. */
export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): Config {
  const nodeEnv = oneOf<NodeEnv>(env, "NODE_ENV", ["production", "development", "test"], "development");
  const dataDir = path.resolve(cwd, optional(env, "CUSTOS_DATA_DIR") ?? ".custos");
  const rateLimitStore = oneOf<RateLimitStoreKind>(env, "CUSTOS_RATE_LIMIT_STORE", ["memory", "postgres", "redis"], "memory");
  const redisUrl = url(env, "REDIS_URL", ["redis:", "rediss:"]);
  if (rateLimitStore === "redis" && redisUrl === undefined) {
    throw new ConfigError("REDIS_URL", "is required when CUSTOS_RATE_LIMIT_STORE is redis");
  }
  const openbaoConfig = openbao(env);
  if (nodeEnv === "production" && openbaoConfig === undefined) {
    throw new ConfigError("OPENBAO_ADDR", "is required under NODE_ENV=production (the local secret backend is for development only)");
  }
  return {
    nodeEnv,
    host: host(env),
    port: integerIn(env, "CUSTOS_PORT", 8080, 0, 65535),
    dataDir,
    databaseUrl: url(env, "DATABASE_URL", ["postgres:", "postgresql:"]),
    publicUrl: url(env, "CUSTOS_PUBLIC_URL", ["http:", "https:"])?.replace(/\/+$/, ""),
    operatorToken: operatorToken(env),
    spicedb: spicedb(env),
    openbao: openbaoConfig,
    oidcLeewaySeconds: integerIn(env, "CUSTOS_OIDC_LEEWAY_SECONDS", 30, 0, MAX_OIDC_LEEWAY_SECONDS),
    // Relative to the working directory when given; the package's own policies otherwise.
    policiesDir: path.resolve(cwd, optional(env, "CUSTOS_POLICIES_DIR") ?? POLICIES_DIR),
    rateLimitStore,
    redisUrl,
    auditTimeoutMs: integerIn(env, "CUSTOS_AUDIT_TIMEOUT_MS", 2000, 50, 60_000),
    nskGraceSeconds: integerIn(env, "CUSTOS_NSK_GRACE_SECONDS", 86_400, 0, 30 * 86_400),
    auditKeyFile: path.resolve(cwd, optional(env, "CUSTOS_AUDIT_KEY_FILE") ?? path.join(dataDir, "audit-signing-key.pem")),
    logLevel: oneOf<LogLevel>(env, "CUSTOS_LOG_LEVEL", ["fatal", "error", "warn", "info", "debug", "trace", "silent"], "info"),
  };
}
