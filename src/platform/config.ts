import { isIP } from "node:net";
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

/** How Custos gets its OpenBao token (OPENBAO_AUTH). Secret ID and JWT files are re-read at each login. */
export type OpenBaoAuth =
  | { readonly method: "token"; readonly token: string }
  | {
      readonly method: "approle";
      readonly mount: string;
      readonly roleId: string;
      readonly secretId: { readonly value: string } | { readonly file: string };
    }
  | { readonly method: "kubernetes"; readonly mount: string; readonly role: string; readonly jwtFile: string };

export interface OpenBaoConfig {
  readonly addr: string;
  readonly auth: OpenBaoAuth;
  readonly kvMount: string;
  readonly transitMount: string;
  readonly transitKey: string;
  /** Upper bound on one OpenBao call (OPENBAO_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /** The folder under the KV mount that Custos owns (OPENBAO_KV_PREFIX); `custos` when absent. */
  readonly kvPrefix?: string;
  /** Sent as X-Vault-Namespace on every request, logins included (OPENBAO_NAMESPACE). */
  readonly namespace?: string;
  readonly tls?: OpenBaoTls;
}

/** TLS towards OpenBao; files are read (and checked) when the adapter is made. */
export interface OpenBaoTls {
  /** PEM file of the CA(s) to trust instead of Node's bundle (OPENBAO_CACERT). */
  readonly caCertFile?: string;
  /** Client certificate and key PEM files, both or neither (OPENBAO_CLIENT_CERT, OPENBAO_CLIENT_KEY). */
  readonly clientCertFile?: string;
  readonly clientKeyFile?: string;
  /** The name the server certificate must carry, when OPENBAO_ADDR uses another (OPENBAO_TLS_SERVER_NAME). */
  readonly serverName?: string;
}

export type RateLimitStoreKind = "memory" | "postgres" | "redis";
export type NodeEnv = "production" | "development" | "test";
export type TrustProxy = false | number | readonly string[];
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
  /**
   * Which peers' X-Forwarded-* headers to believe (Express `trust proxy`): false, a hop
   * count, or a list of addresses, CIDR ranges and the names loopback, linklocal, uniquelocal.
   */
  readonly trustProxy: TrustProxy;
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
  /** Scheduled audit checkpoints and mirrors (docs/design.md, "Scheduled checkpoints and mirrors"). */
  readonly auditSchedule: AuditScheduleConfig;
  /** Signed events to nodes (docs/design.md, "Signed events"). */
  readonly events: EventsConfig;
  readonly logLevel: LogLevel;
}

/** The event bus, envelopes and streams. */
export interface EventsConfig {
  /** An envelope's lifetime: exp = iat + this (EVENTS_TTL_SECONDS, 10..300). */
  readonly ttlSeconds: number;
  /** How often an open stream carries a `: heartbeat` comment (EVENTS_HEARTBEAT_SECONDS). */
  readonly heartbeatSeconds: number;
  /** Open streams one node may hold on one replica (EVENTS_MAX_STREAMS_PER_NODE). */
  readonly maxStreamsPerNode: number;
  /** How long an event stays retained for a resuming node (EVENTS_RETENTION_SECONDS). */
  readonly retentionSeconds: number;
  /** The in-process bus keeps at most this many events per node (EVENTS_RETAIN_PER_NODE). */
  readonly retainPerNode: number;
  /** JetStream when NATS_URL is set; the in-process bus (one replica) otherwise. */
  readonly nats: NatsConfig | undefined;
}

export interface NatsConfig {
  readonly url: string;
  /** The deployment's one stream (NATS_STREAM). */
  readonly stream: string;
  /** Subjects are `<prefix>.<domain>.<node_id>` (NATS_SUBJECT_PREFIX). */
  readonly subjectPrefix: string;
  /** The stream's size bound (EVENTS_RETENTION_BYTES); the oldest events go first. */
  readonly retentionBytes: number;
}

export interface AuditScheduleConfig {
  /** A chain whose head moved is checkpointed once this long has passed since its last checkpoint (CUSTOS_AUDIT_CHECKPOINT_INTERVAL). */
  readonly checkpointIntervalSeconds: number;
  /** …or as soon as its head moved this many records past it (CUSTOS_AUDIT_CHECKPOINT_EVERY); absent: the interval only. */
  readonly checkpointEveryRecords: number | undefined;
  /** Where each scheduled checkpoint is also written, never overwritten (CUSTOS_AUDIT_WITNESS_DIR). */
  readonly witnessDir: string | undefined;
  /** Where each chain's mirror is kept up to its last checkpoint, one directory per chain (CUSTOS_AUDIT_MIRROR_DIR). */
  readonly mirrorDir: string | undefined;
}

export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, problem: string) {
    super(`invalid configuration: ${variable} ${problem}`);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

/**
 * DESIGN.md, "Admin authentication": the clock leeway for id_tokens and step-up is configurable
 * but never above 120 s. The one bound: config refuses more, and the verifier and the step-up
 * gate check what they are handed with {@link assertLeewaySeconds} (a caller bug, not config).
 */
export const MAX_OIDC_LEEWAY_SECONDS = 120;

/** A leeway is a whole number of seconds in [0, MAX_OIDC_LEEWAY_SECONDS]; anything else is a caller bug. */
export function assertLeewaySeconds(value: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_OIDC_LEEWAY_SECONDS) {
    throw new RangeError(`the clock leeway must be a whole number of seconds between 0 and ${String(MAX_OIDC_LEEWAY_SECONDS)}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** `text` without any trailing `character`s; a loop, where a `/x+$/` search would backtrack. */
/** `text` without any run of `character` at its end (a loop: `/\/+$/` backtracks quadratically). */
export function withoutTrailing(text: string, character: string): string {
  let end = text.length;
  while (end > 0 && text.charAt(end - 1) === character) end -= 1;
  return text.slice(0, end);
}

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

const DURATION_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * A duration as whole seconds, written `90`, `90s`, `15m`, `1h` or `1d`, within [min, max]
 * seconds; parsed without a regular expression on the number's length.
 */
function durationSeconds(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const explain = `must be a duration from ${describeSeconds(min)} to ${describeSeconds(max)}, such as 90s, 15m, 1h or 1d (got ${JSON.stringify(raw)})`;
  const last = raw.slice(-1);
  const unit = DURATION_UNITS[last];
  const digits = unit === undefined ? raw : raw.slice(0, -1);
  if (!/^\d{1,9}$/.test(digits)) throw new ConfigError(name, explain);
  const seconds = Number(digits) * (unit ?? 1);
  if (seconds < min || seconds > max) throw new ConfigError(name, explain);
  return seconds;
}

function describeSeconds(seconds: number): string {
  if (seconds % 86_400 === 0) return `${String(seconds / 86_400)}d`;
  if (seconds % 3600 === 0) return `${String(seconds / 3600)}h`;
  if (seconds % 60 === 0) return `${String(seconds / 60)}m`;
  return `${String(seconds)}s`;
}

/** The audit schedule's settings; the directories are resolved against the working directory. */
function auditSchedule(env: Env, cwd: string): AuditScheduleConfig {
  const everyRaw = optional(env, "CUSTOS_AUDIT_CHECKPOINT_EVERY");
  const witness = optional(env, "CUSTOS_AUDIT_WITNESS_DIR");
  const mirror = optional(env, "CUSTOS_AUDIT_MIRROR_DIR");
  const witnessDir = witness === undefined ? undefined : path.resolve(cwd, witness);
  const mirrorDir = mirror === undefined ? undefined : path.resolve(cwd, mirror);
  if (witnessDir !== undefined && witnessDir === mirrorDir) {
    throw new ConfigError("CUSTOS_AUDIT_WITNESS_DIR", "must not be CUSTOS_AUDIT_MIRROR_DIR: give each its own directory");
  }
  return {
    checkpointIntervalSeconds: durationSeconds(env, "CUSTOS_AUDIT_CHECKPOINT_INTERVAL", 3600, 60, 7 * 86_400),
    checkpointEveryRecords: everyRaw === undefined ? undefined : integerIn(env, "CUSTOS_AUDIT_CHECKPOINT_EVERY", 0, 1, 100_000_000),
    witnessDir,
    mirrorDir,
  };
}

/** How to make a token that passes: printed whenever one is refused. */
const MAKE_A_TOKEN = "make one with `openssl rand -base64 32` (or `openssl rand -hex 32`)";

/**
 * Thresholds a random token meets with overwhelming probability and a hand-typed one does
 * not: 43 random base64 characters show about 31 distinct symbols and 64 random hex
 * digits about 15, and a repeated or stepping run (`aaaaaa`, `abcdef`) as long as the limit
 * below turns up by chance less than once in a million tokens.
 */
const TOKEN_RANDOMNESS = {
  base64: { minDistinctSymbols: 16, maxRunLength: 5 },
  hex: { minDistinctSymbols: 10, maxRunLength: 7 },
} as const;

/**
 * The longest run of characters each equal to, or one code point above or below, the one
 * before it, in the same direction: `aaaa` and `abcd` and `dcba` are runs of 4.
 */
export function longestRun(text: string): number {
  let longest = text.length === 0 ? 0 : 1;
  let current = 1;
  let step = 0;
  for (let i = 1; i < text.length; i += 1) {
    const delta = text.charCodeAt(i) - text.charCodeAt(i - 1);
    const continues = Math.abs(delta) <= 1 && (current === 1 || delta === step);
    current = continues ? current + 1 : Math.abs(delta) <= 1 ? 2 : 1;
    step = delta;
    longest = Math.max(longest, current);
  }
  return longest;
}

/**
 * Why a token that has the right alphabet and length is still obviously not random, or
 * undefined when nothing gives it away. It cannot prove randomness; it refuses `a` × 43,
 * `0` × 64, `abab…` and keyboard walks, which the length check alone lets through.
 */
export function obviousTokenWeakness(token: string, alphabet: "base64" | "hex"): string | undefined {
  const limits = TOKEN_RANDOMNESS[alphabet];
  const distinct = new Set(token).size;
  if (distinct < limits.minDistinctSymbols) {
    return `uses only ${String(distinct)} distinct characters (a random one uses at least ${String(limits.minDistinctSymbols)})`;
  }
  if (longestRun(token) > limits.maxRunLength) {
    return `has a run of more than ${String(limits.maxRunLength)} repeated or consecutive characters`;
  }
  return undefined;
}

/**
 * The operator token is a bearer with platform-wide power, so a guessable one is refused:
 * at least 256 bits, written as 43+ base64 characters (standard, as `openssl rand -base64 32`
 * prints it, or base64url) or 64+ hex digits, and not obviously patterned. It is never echoed.
 */
function operatorToken(env: Env): string | undefined {
  const name = "CUSTOS_OPERATOR_TOKEN";
  const raw = optional(env, name);
  if (raw === undefined) return undefined;
  const hex = /^[0-9a-fA-F]{64,}$/.test(raw);
  const base64 = /^[A-Za-z0-9+/_-]{43,}={0,2}$/.test(raw);
  if (!base64 && !hex) {
    throw new ConfigError(name, `must be at least 256 random bits: 43+ base64 characters or 64+ hex digits; ${MAKE_A_TOKEN}`);
  }
  // Padding is not part of the randomness.
  const weakness = obviousTokenWeakness(withoutTrailing(raw, "="), hex ? "hex" : "base64");
  if (weakness !== undefined) {
    throw new ConfigError(name, `is not random: it ${weakness}; ${MAKE_A_TOKEN}`);
  }
  return raw;
}

const MAX_PROXY_HOPS = 10;
const PROXY_RANGE_NAMES = new Set(["loopback", "linklocal", "uniquelocal"]);

/** One entry of a CUSTOS_TRUST_PROXY list: an IP address, a CIDR range or a range name. */
export function isTrustedProxyEntry(entry: string): boolean {
  if (PROXY_RANGE_NAMES.has(entry)) return true;
  const slash = entry.indexOf("/");
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return false;
  if (slash === -1) return true;
  const prefix = entry.slice(slash + 1);
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * CUSTOS_TRUST_PROXY: whose X-Forwarded-For and X-Forwarded-Proto to believe. `true` (believe
 * anyone) is refused: any client could then choose its own address and claim TLS. Absent or
 * `false` trusts no proxy.
 */
function trustProxy(env: Env): TrustProxy {
  const name = "CUSTOS_TRUST_PROXY";
  const raw = optional(env, name);
  if (raw === undefined || raw === "false" || raw === "0") return false;
  const explain = `must be false (or 0), a hop count from 1 to ${String(MAX_PROXY_HOPS)}, or a comma-separated list of addresses, CIDR ranges, loopback, linklocal or uniquelocal`;
  if (raw === "true") throw new ConfigError(name, `${explain} (true would let any client forge its address)`);
  if (/^\d{1,2}$/.test(raw)) {
    const hops = Number(raw);
    if (hops < 1 || hops > MAX_PROXY_HOPS) throw new ConfigError(name, `${explain} (got ${raw})`);
    return hops;
  }
  const entries = raw.split(",").map((entry) => entry.trim());
  const invalid = entries.find((entry) => !isTrustedProxyEntry(entry));
  if (invalid !== undefined) throw new ConfigError(name, `${explain} (got ${JSON.stringify(invalid)})`);
  return entries;
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

const OPENBAO_CREDENTIAL_VARIABLES = {
  token: ["OPENBAO_TOKEN"],
  approle: ["OPENBAO_ROLE_ID", "OPENBAO_SECRET_ID", "OPENBAO_SECRET_ID_FILE"],
  kubernetes: ["OPENBAO_K8S_ROLE", "OPENBAO_K8S_JWT_FILE"],
} as const;
const K8S_SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/** OPENBAO_AUTH and its credentials; another method's credential set alongside is refused, named. */
function openbaoAuth(env: Env, mount: (name: string, fallback: string) => string): OpenBaoAuth {
  const method = oneOf(env, "OPENBAO_AUTH", ["token", "approle", "kubernetes"] as const, "token");
  for (const [other, variables] of Object.entries(OPENBAO_CREDENTIAL_VARIABLES)) {
    if (other === method) continue;
    const stray = variables.find((name) => optional(env, name) !== undefined);
    if (stray !== undefined) throw new ConfigError(stray, `is for OPENBAO_AUTH=${other}, but OPENBAO_AUTH is ${method}`);
  }
  if (method === "token") {
    if (optional(env, "OPENBAO_AUTH_MOUNT") !== undefined) throw new ConfigError("OPENBAO_AUTH_MOUNT", "is for OPENBAO_AUTH=approle or kubernetes");
    const token = optional(env, "OPENBAO_TOKEN");
    if (token === undefined) throw new ConfigError("OPENBAO_TOKEN", "is required when OPENBAO_ADDR is set and OPENBAO_AUTH is token");
    return { method, token };
  }
  if (method === "approle") {
    const roleId = optional(env, "OPENBAO_ROLE_ID");
    if (roleId === undefined) throw new ConfigError("OPENBAO_ROLE_ID", "is required when OPENBAO_AUTH is approle");
    const value = optional(env, "OPENBAO_SECRET_ID");
    const file = optional(env, "OPENBAO_SECRET_ID_FILE");
    if (value !== undefined && file !== undefined) throw new ConfigError("OPENBAO_SECRET_ID_FILE", "and OPENBAO_SECRET_ID are both set; set one");
    if (value === undefined && file === undefined) {
      throw new ConfigError("OPENBAO_SECRET_ID_FILE", "(or OPENBAO_SECRET_ID) is required when OPENBAO_AUTH is approle");
    }
    return { method, mount: mount("OPENBAO_AUTH_MOUNT", "approle"), roleId, secretId: file === undefined ? { value: value ?? "" } : { file } };
  }
  const role = optional(env, "OPENBAO_K8S_ROLE");
  if (role === undefined) throw new ConfigError("OPENBAO_K8S_ROLE", "is required when OPENBAO_AUTH is kubernetes");
  return { method, mount: mount("OPENBAO_AUTH_MOUNT", "kubernetes"), role, jwtFile: optional(env, "OPENBAO_K8S_JWT_FILE") ?? K8S_SERVICE_ACCOUNT_TOKEN };
}

function openbao(env: Env): OpenBaoConfig | undefined {
  const addr = url(env, "OPENBAO_ADDR", ["http:", "https:"]);
  if (addr === undefined) return undefined;
  const mount = (name: string, fallback: string): string => {
    const value = optional(env, name) ?? fallback;
    if (!/^[A-Za-z0-9_-][A-Za-z0-9_./-]*$/.test(value)) throw new ConfigError(name, "must be a mount path");
    return value;
  };
  return {
    addr,
    auth: openbaoAuth(env, mount),
    kvMount: mount("OPENBAO_KV_MOUNT", "secret"),
    transitMount: mount("OPENBAO_TRANSIT_MOUNT", "transit"),
    transitKey: mount("OPENBAO_TRANSIT_KEY", "custos"),
    timeoutMs: integerIn(env, "OPENBAO_TIMEOUT_MS", 2000, 50, 60_000),
    kvPrefix: withoutTrailing(mount("OPENBAO_KV_PREFIX", "custos"), "/"),
    ...openbaoNamespace(env),
    ...openbaoTls(env, addr),
  };
}

/** `team-a`, `team-a/prod`, with at most one trailing slash: segments of letters, digits, `_` and `-`. */
function isNamespacePath(value: string): boolean {
  const segments = (value.endsWith("/") ? value.slice(0, -1) : value).split("/");
  return segments.every((segment) => /^[A-Za-z0-9_-]+$/.test(segment));
}

function openbaoNamespace(env: Env): { namespace?: string } {
  const namespace = optional(env, "OPENBAO_NAMESPACE");
  if (namespace === undefined) return {};
  if (!isNamespacePath(namespace)) throw new ConfigError("OPENBAO_NAMESPACE", "must be a namespace path such as team-a or team-a/prod");
  return { namespace };
}

/** OPENBAO_CACERT, OPENBAO_CLIENT_CERT/KEY (both or neither), OPENBAO_TLS_SERVER_NAME; https only. */
function openbaoTls(env: Env, addr: string): { tls?: OpenBaoTls } {
  const caCertFile = optional(env, "OPENBAO_CACERT");
  const clientCertFile = optional(env, "OPENBAO_CLIENT_CERT");
  const clientKeyFile = optional(env, "OPENBAO_CLIENT_KEY");
  const serverName = optional(env, "OPENBAO_TLS_SERVER_NAME");
  const set = [["OPENBAO_CACERT", caCertFile], ["OPENBAO_CLIENT_CERT", clientCertFile], ["OPENBAO_CLIENT_KEY", clientKeyFile], ["OPENBAO_TLS_SERVER_NAME", serverName]]
    .filter(([, value]) => value !== undefined);
  const first = set[0]?.[0];
  if (first === undefined) return {};
  if (!addr.startsWith("https:")) throw new ConfigError(first, "needs OPENBAO_ADDR to use https://");
  if (clientCertFile !== undefined && clientKeyFile === undefined) throw new ConfigError("OPENBAO_CLIENT_KEY", "is required when OPENBAO_CLIENT_CERT is set");
  if (clientKeyFile !== undefined && clientCertFile === undefined) throw new ConfigError("OPENBAO_CLIENT_CERT", "is required when OPENBAO_CLIENT_KEY is set");
  if (serverName !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(serverName)) {
    throw new ConfigError("OPENBAO_TLS_SERVER_NAME", "must be a DNS name");
  }
  return { tls: { caCertFile, clientCertFile, clientKeyFile, serverName } };
}

/** A NATS subject prefix: dot-separated tokens, no wildcards. */
const SUBJECT_PREFIX = /^[A-Za-z0-9_-]{1,32}(\.[A-Za-z0-9_-]{1,32}){0,7}$/;

function nats(env: Env): NatsConfig | undefined {
  const natsUrl = url(env, "NATS_URL", ["nats:", "tls:"]);
  if (natsUrl === undefined) {
    const stray = ["NATS_STREAM", "NATS_SUBJECT_PREFIX", "EVENTS_RETENTION_BYTES"].find((name) => optional(env, name) !== undefined);
    if (stray !== undefined) throw new ConfigError(stray, "is for the NATS event bus: set NATS_URL too");
    return undefined;
  }
  if (new URL(natsUrl).hostname === "") throw new ConfigError("NATS_URL", "must name a host, such as nats://127.0.0.1:4222");
  const stream = optional(env, "NATS_STREAM") ?? "CUSTOS_EVENTS";
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(stream)) throw new ConfigError("NATS_STREAM", "must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'");
  const subjectPrefix = optional(env, "NATS_SUBJECT_PREFIX") ?? "custos.events";
  if (!SUBJECT_PREFIX.test(subjectPrefix)) throw new ConfigError("NATS_SUBJECT_PREFIX", "must be dot-separated tokens of A-Z, a-z, 0-9, '_' and '-', such as custos.events");
  return { url: natsUrl, stream, subjectPrefix, retentionBytes: integerIn(env, "EVENTS_RETENTION_BYTES", 256 * 1024 * 1024, 1024 * 1024, 1024 ** 4) };
}

function events(env: Env): EventsConfig {
  return {
    ttlSeconds: integerIn(env, "EVENTS_TTL_SECONDS", 60, 10, 300),
    heartbeatSeconds: integerIn(env, "EVENTS_HEARTBEAT_SECONDS", 15, 1, 300),
    maxStreamsPerNode: integerIn(env, "EVENTS_MAX_STREAMS_PER_NODE", 2, 1, 100),
    retentionSeconds: integerIn(env, "EVENTS_RETENTION_SECONDS", 3600, 60, 7 * 86_400),
    retainPerNode: integerIn(env, "EVENTS_RETAIN_PER_NODE", 1000, 1, 100_000),
    nats: nats(env),
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
  const publicUrl = url(env, "CUSTOS_PUBLIC_URL", ["http:", "https:"]);
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
    publicUrl: publicUrl === undefined ? undefined : withoutTrailing(publicUrl, "/"),
    trustProxy: trustProxy(env),
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
    auditSchedule: auditSchedule(env, cwd),
    events: events(env),
    logLevel: oneOf<LogLevel>(env, "CUSTOS_LOG_LEVEL", ["fatal", "error", "warn", "info", "debug", "trace", "silent"], "info"),
  };
}
