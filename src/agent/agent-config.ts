import { readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ConfigError } from "../platform/config.ts";
import { isDomainId, isNodeId, isSecretName, KID_PATTERN } from "../platform/names.ts";
import { MAX_EVENT_LEEWAY_SECONDS } from "./event-envelope.ts";

/**
 * The agent's YAML configuration (docs/operations.md, "Node agent"). Every setting is checked
 * before anything starts; a bad one stops start-up with ConfigError naming it (exit 2).
 * Relative paths are relative to the configuration file's directory, so a config and its
 * files can move together.
 */

const THUMBPRINT = /^[A-Za-z0-9_-]{43}$/;
const OWNER = /^(?:\d+(?::\d+)?|[a-z_][a-z0-9_.-]{0,31}(?::[a-z_][a-z0-9_.-]{0,31})?)$/;

const pattern = (test: (value: string) => boolean, message: string) => z.string().refine(test, { message });

const secretSchema = z.strictObject({
  name: pattern(isSecretName, "must be a secret name (1-128 of A-Z a-z 0-9 . _ -)"),
  path: z.string().min(1),
  /** Octal, as a string ("0640") or a YAML number written 0o640. */
  mode: z.union([z.string().regex(/^0?[0-7]{3}$/, { message: "must be an octal mode such as \"0600\"" }), z.int().min(0).max(0o777)]).optional(),
  owner: z.union([z.string().regex(OWNER, { message: "must be uid[:gid] (numbers) or a user[:group] name" }), z.int().min(0)]).optional(),
  reload: z.array(z.string().min(1)).min(1).optional(),
  reload_timeout_seconds: z.int().min(1).max(600).optional(),
});

const configSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, message: "must be an http(s) URL" }),
  domain: pattern(isDomainId, "must be a domain id"),
  node_id: pattern(isNodeId, "must be a node id (a lowercase UUID)"),
  kid: z.string().regex(KID_PATTERN, { message: "must be a kid (8-64 base64url characters)" }),
  nsk_file: z.string().min(1),
  state_dir: z.string().min(1).optional(),
  event_key_thumbprint: z.string().regex(THUMBPRINT, { message: "must be an RFC 7638 SHA-256 thumbprint (43 base64url characters)" }).optional(),
  grants_dir: z.string().min(1).optional(),
  leeway_seconds: z.int().min(0).max(MAX_EVENT_LEEWAY_SECONDS).optional(),
  reconnect_max_seconds: z.int().min(1).max(3600).optional(),
  idle_timeout_seconds: z.int().min(5).max(3600).optional(),
  secrets: z.array(secretSchema).min(1),
});

export interface SecretFileConfig {
  readonly name: string;
  readonly path: string;
  readonly mode: number;
  /** Numeric, or undefined to leave the owner as the agent's. */
  readonly owner: { readonly uid: number; readonly gid: number } | undefined;
  readonly reload: readonly string[] | undefined;
  readonly reloadTimeoutMs: number;
}

export interface AgentConfig {
  readonly url: string;
  readonly domain: string;
  readonly nodeId: string;
  /** The kid the node was enrolled with; after a rotation the state directory's kid is used. */
  readonly kid: string;
  readonly nskFile: string;
  readonly stateDir: string;
  readonly eventKeyThumbprint: string | undefined;
  readonly grantsDir: string | undefined;
  readonly leewaySeconds: number;
  readonly reconnectMaxMs: number;
  readonly idleTimeoutMs: number;
  readonly secrets: readonly SecretFileConfig[];
}

/** What user and group names resolve through (`/etc/passwd` and `/etc/group` text). */
export interface AccountDatabase {
  readonly passwd: string;
  readonly group: string;
}

function systemAccounts(): AccountDatabase {
  const read = (file: string) => {
    try {
      return readFileSync(file, "utf8");
    } catch {
      return "";
    }
  };
  return { passwd: read("/etc/passwd"), group: read("/etc/group") };
}

function lookup(database: string, name: string, idField: number): { id: number; gid: number } | undefined {
  for (const line of database.split("\n")) {
    const fields = line.split(":");
    if (fields[0] === name && fields[idField] !== undefined) return { id: Number(fields[idField]), gid: Number(fields[3]) };
  }
  return undefined;
}

function resolveOwner(owner: string | number | undefined, setting: string, accounts: () => AccountDatabase): { uid: number; gid: number } | undefined {
  if (owner === undefined) return undefined;
  if (typeof owner === "number") return { uid: owner, gid: owner };
  const [user = "", group] = owner.split(":");
  if (/^\d+$/.test(user)) return { uid: Number(user), gid: group === undefined ? Number(user) : Number(group) };
  const entry = lookup(accounts().passwd, user, 2);
  if (entry === undefined) throw new ConfigError(setting, `names user "${user}", who is not in /etc/passwd`);
  if (group === undefined) return { uid: entry.id, gid: entry.gid };
  const groupEntry = lookup(accounts().group, group, 2);
  if (groupEntry === undefined) throw new ConfigError(setting, `names group "${group}", which is not in /etc/group`);
  return { uid: entry.id, gid: groupEntry.id };
}

function settingName(issuePath: readonly PropertyKey[]): string {
  return issuePath.map((part, index) => (typeof part === "number" ? `[${String(part)}]` : `${index === 0 ? "" : "."}${String(part)}`)).join("") || "(the file)";
}

/** Checks the parsed YAML of `file`; throws ConfigError naming the first bad setting. */
export function parseAgentConfig(document: unknown, file: string, accounts: () => AccountDatabase = systemAccounts): AgentConfig {
  const result = configSchema.safeParse(document);
  if (!result.success) {
    const issue = result.error.issues[0];
    // A misspelt setting is named itself, not its parent: `nsk_files` rather than the file.
    if (issue?.code === "unrecognized_keys") throw new ConfigError(`${file}: ${settingName([...issue.path, issue.keys[0] ?? ""])}`, "is not a setting");
    throw new ConfigError(`${file}: ${settingName(issue?.path ?? [])}`, issue?.message ?? "is invalid");
  }
  const config = result.data;
  const directory = path.dirname(path.resolve(file));
  const resolve = (value: string) => path.resolve(directory, value);
  const names = new Set<string>();
  const paths = new Set<string>();
  const secrets = config.secrets.map((secret, index): SecretFileConfig => {
    const setting = `${file}: secrets[${String(index)}]`;
    if (names.has(secret.name)) throw new ConfigError(`${setting}.name`, `repeats ${secret.name}`);
    const target = resolve(secret.path);
    if (paths.has(target)) throw new ConfigError(`${setting}.path`, `repeats ${target}`);
    names.add(secret.name);
    paths.add(target);
    return {
      name: secret.name,
      path: target,
      mode: secret.mode === undefined ? 0o600 : typeof secret.mode === "number" ? secret.mode : Number.parseInt(secret.mode, 8),
      owner: resolveOwner(secret.owner, `${setting}.owner`, accounts),
      reload: secret.reload,
      reloadTimeoutMs: (secret.reload_timeout_seconds ?? 30) * 1000,
    };
  });
  return {
    url: config.url.replace(/\/$/, ""),
    domain: config.domain,
    nodeId: config.node_id,
    kid: config.kid,
    nskFile: resolve(config.nsk_file),
    stateDir: resolve(config.state_dir ?? `${path.basename(file, path.extname(file))}.state`),
    eventKeyThumbprint: config.event_key_thumbprint,
    grantsDir: config.grants_dir === undefined ? undefined : resolve(config.grants_dir),
    leewaySeconds: config.leeway_seconds ?? 30,
    reconnectMaxMs: (config.reconnect_max_seconds ?? 60) * 1000,
    idleTimeoutMs: (config.idle_timeout_seconds ?? 45) * 1000,
    secrets,
  };
}

/** Reads and checks the configuration file. */
export function loadAgentConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError("--config", `cannot be read (${file}: ${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new ConfigError(file, `is not YAML: ${error instanceof Error ? error.message.split("\n")[0] ?? "" : ""}`);
  }
  return parseAgentConfig(document, file);
}
