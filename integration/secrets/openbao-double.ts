import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { allows, capabilitiesOn, grantsUnder, tokenPolicy, type Policy } from "./openbao-double-policy.ts";

/**
 * An OpenBao-API test double: exactly the endpoints the Custos adapter uses, with the
 * request and response shapes of OpenBao's API documentation (api-docs/secret/kv/kv-v2,
 * api-docs/secret/transit, api-docs/system/health, api-docs/system/seal-status) and its
 * failure answers:
 *
 * - sealed: 503 `{"errors":["Vault is sealed"]}` for every authenticated path; the
 *   unauthenticated sys/health answers 503 with `sealed: true`, sys/seal-status 200 with
 *   `sealed: true`, as OpenBao does;
 * - bad or missing X-Vault-Token: 403 `{"errors":["permission denied"]}`; so is a request the
 *   token's policy does not allow (openbao-double-policy.ts: per-path capabilities, `*` and
 *   `+`, OpenBao's default policy, create vs update by existence as OpenBao's handlers check);
 *   sys/capabilities-self answers what the policy grants;
 * - missing KV secret or Transit key: 404 `{"errors":[]}`; unknown route: 404 with text;
 * - Transit: real AES-256-GCM, `vault:v<N>:<base64(nonce|ciphertext|tag)>`, per-context keys
 *   (HKDF-SHA256) for derived keys, 400 with OpenBao's message when the context is missing.
 *
 * - a standby (redirectTo): 307 with Location on the active node's address, as OpenBao's
 *   standby answers when it does not forward; over TLS when started with `tls`;
 * - Transit key versions: rotate, min_decryption_version ("too old"), rewrap, soft-delete;
 *   key creation answers 200 with the key; encrypt upserts a missing key only for a token
 *   with `create` on the encrypt path;
 * - sys/health's query parameters (standbyok, activecode, standbycode, sealedcode, uninitcode);
 * - rate-limit quotas (limitRate): 429 "rate limit quota exceeded" with Retry-After;
 * - KV v2 delete, delete/ and destroy/ of versions, cas_required, version reads;
 * - tokens with TTLs, renewal up to a max TTL, AppRole and Kubernetes logins, namespaces.
 *
 * Test controls: seal()/unseal(), hang() (accept, never answer) / release(), stop().
 * It lives with the tests and never under src/.
 */

export interface DoubleTls {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  /** CA that client certificates must chain to; with it, a client certificate is required. */
  readonly clientCa?: string | Buffer;
}

export interface OpenBaoDoubleOptions {
  readonly token?: string;
  /** HCL policy of `token`; root (everything) when absent. */
  readonly policy?: string;
  /** Serve https with this certificate. */
  readonly tls?: DoubleTls;
  /** The host name in `addr` (the server listens on 127.0.0.1); default 127.0.0.1. */
  readonly host?: string;
  /** Tokens and auth mounts live in this namespace: requests must name it in X-Vault-Namespace. */
  readonly namespace?: string;
  /** TTL of `token` in seconds; 0 (the default, like a root token) never expires. */
  readonly tokenTtlSeconds?: number;
  /** Whether `token` may renew itself (and up to which total lifetime, 0 = unbounded). */
  readonly tokenRenewable?: boolean;
  readonly tokenMaxTtlSeconds?: number;
  readonly kvMount?: string;
  /** The KV mount's cas_required: every write must carry options.cas. */
  readonly kvCasRequired?: boolean;
  /** Serve the KV mount as version 1 (no data/, metadata/ or config paths). */
  readonly kvVersion1?: boolean;
  readonly transitMount?: string;
}

/** A canned failure for the next matching requests (see OpenBaoDouble.inject). */
export interface InjectedFailure {
  /** Requests whose "METHOD /v1/path" matches; every request when absent. */
  readonly match?: RegExp;
  readonly times: number;
  /** An HTTP answer, or "drop": the socket is destroyed before any answer. */
  readonly status: number | "drop";
  readonly errors?: readonly string[];
  readonly retryAfter?: string;
  /** The request is carried out first, then its answer is lost (socket destroyed). */
  readonly afterApplying?: boolean;
}

export interface TokenOptions {
  readonly ttlSeconds: number;
  /** HCL policy; root when absent. The default policy is attached unless noDefaultPolicy. */
  readonly policy?: string;
  readonly noDefaultPolicy?: boolean;
  readonly renewable?: boolean;
  /** Total lifetime cap for renewals (explicit_max_ttl / the role's token_max_ttl); 0 = none. */
  readonly maxTtlSeconds?: number;
}

export interface AppRoleOptions extends TokenOptions {
  readonly roleId: string;
  readonly secretId: string;
}

export interface KubernetesRoleOptions extends TokenOptions {
  readonly role: string;
  readonly jwt: string;
}

export interface TransitKeyInfo {
  readonly derived: boolean;
  readonly latestVersion: number;
}

export interface ReceivedRequest {
  readonly request: string;
  readonly headers: http.IncomingHttpHeaders;
}

export interface OpenBaoDouble {
  /** Base address, e.g. http://127.0.0.1:41234 (what OPENBAO_ADDR would hold). */
  readonly addr: string;
  /**
   * The next `request` ("METHOD /v1/path") is answered as of its arrival, but the answer is
   * sent only when the returned function is called: a slow answer on a loaded machine.
   */
  holdNextAnswer(request: string): () => void;
  readonly token: string;
  /** Every request received, as "METHOD /v1/path", including held ones. */
  readonly requests: readonly string[];
  /** The same, with the headers each arrived with. */
  readonly received: readonly ReceivedRequest[];
  /**
   * A rate-limit quota (sys/quotas/rate-limit): `limit` requests per `intervalSeconds` window;
   * past it, 429 "rate limit quota exceeded" with Retry-After, as OpenBao answers. undefined ends it.
   */
  limitRate(quota: { readonly limit: number; readonly intervalSeconds: number } | undefined): void;
  /** A standby that does not forward: every request but sys/health answers 307 to `addr`; undefined ends it. */
  redirectTo(addr: string | undefined): void;
  seal(): void;
  /** A server `bao operator init` has not run on: sealed, and sys/health answers 501. */
  uninitialize(): void;
  unseal(): void;
  /** From now on requests are accepted and never answered, until release(). */
  hang(): void;
  /** Ends hang(): held requests are dropped (their sockets closed), new ones are served. */
  release(): void;
  readonly hanging: boolean;
  /** Requests held by hang() and not released yet. */
  heldRequests(): number;
  createTransitKey(name: string, options: { readonly derived: boolean; readonly convergent?: boolean }): void;
  /** Operator changes to a key: rotate, raise min_decryption_version, soft-delete, delete. */
  rotateTransitKey(name: string): void;
  setMinDecryptionVersion(name: string, version: number): void;
  softDeleteTransitKey(name: string, deleted?: boolean): void;
  deleteTransitKey(name: string): void;
  transitKey(name: string): TransitKeyInfo | undefined;
  /** The next `times` matching requests fail as described (one queue, first match wins). */
  inject(failure: InjectedFailure): void;
  /** KV versions stored for `custos/<domain>/<name>`. */
  kvVersions(key: string): number;
  /** The double's clock moves on (token TTLs expire) without the test waiting. */
  advanceClock(seconds: number): void;
  /** A token the double accepts, with its own TTL. */
  issueToken(options: TokenOptions): string;
  revokeToken(token: string): void;
  /** Revokes every token but the one the double started with (an operator's revoke-prefix). */
  revokeIssuedTokens(): void;
  /** Remaining TTL in seconds (0 = never expires), or undefined for an unknown/expired token. */
  tokenTtl(token: string): number | undefined;
  addAppRole(options: AppRoleOptions): void;
  addKubernetesRole(options: KubernetesRoleOptions): void;
  /** Logins answered with a token, per method. */
  readonly logins: { approle: number; kubernetes: number };
  /**
   * A standby whose active node is gone: sys/health?standbyok=true still answers 200 with
   * standby=true, every other call 500 "local node not active but active cluster node not found".
   */
  loseActiveNode(): void;
  restoreActiveNode(): void;
  stop(): Promise<void>;
}

const MISSING_CONTEXT =
  "missing 'context' for key derivation; the key was created using a derived key, which means additional, per-request information must be included in order to perform operations with the key";
const STRICT_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const MAX_BODY = 1024 * 1024;

interface KvVersion {
  readonly data: Record<string, unknown>;
  readonly createdTime: string;
  /** Soft-deleted (DELETE data/<path>, or delete/<path>): reads answer 404 with its metadata. */
  deletionTime: string;
  destroyed: boolean;
}

interface TransitKey {
  readonly derived: boolean;
  readonly versions: Buffer[];
  readonly createdAt: number[];
  convergent: boolean;
  softDeleted: boolean;
  minDecryptionVersion: number;
}

class HttpAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;

  constructor(status: number, body: unknown, headers: Record<string, string> = {}) {
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

function errors(status: number, ...messages: string[]): HttpAnswer {
  return new HttpAnswer(status, { errors: messages });
}

/** OpenBao's response envelope around `data`. */
function envelope(data: unknown): HttpAnswer {
  return new HttpAnswer(200, {
    request_id: randomUUID(),
    lease_id: "",
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: null,
    auth: null,
  });
}

function decodeBase64(value: unknown): Buffer | undefined {
  if (typeof value !== "string" || !STRICT_BASE64.test(value) || value.length % 4 !== 0) return undefined;
  return Buffer.from(value, "base64");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      resolve(Buffer.concat(chunks));
    });
    req.on("error", reject);
  });
}

interface TokenEntry {
  readonly creationTtl: number;
  readonly renewable: boolean;
  readonly issuedAt: number;
  /** Seconds since the epoch on the double's clock; undefined = never expires. */
  expiresAt: number | undefined;
  readonly maxExpiresAt: number | undefined;
  readonly policy: Policy;
}

// sdk/helper/keysutil/policy.go ErrSoftDeleted.
const SOFT_DELETED = "refusing to use soft-deleted key";
const NO_ACTIVE_NODE = "local node not active but active cluster node not found";

class DoubleState {
  readonly token: string;
  readonly kvMount: string;
  readonly transitMount: string;
  sealed = false;
  /** An uninitialised server is also sealed (`bao operator init` has not run). */
  initialized = true;
  activeNodeLost = false;
  clockOffsetSeconds = 0;
  readonly kv = new Map<string, KvVersion[]>();
  readonly kvCasRequired: boolean;
  readonly kvVersion1: boolean;
  readonly keys = new Map<string, TransitKey>();
  readonly tokens = new Map<string, TokenEntry>();
  readonly appRoles = new Map<string, AppRoleOptions>();
  readonly kubernetesRoles = new Map<string, KubernetesRoleOptions>();
  readonly logins = { approle: 0, kubernetes: 0 };

  constructor(options: OpenBaoDoubleOptions) {
    this.token = options.token ?? `s.${randomBytes(18).toString("base64url")}`;
    this.kvMount = options.kvMount ?? "secret";
    this.transitMount = options.transitMount ?? "transit";
    this.kvCasRequired = options.kvCasRequired ?? false;
    this.kvVersion1 = options.kvVersion1 ?? false;
    this.addToken(this.token, {
      policy: options.policy,
      ttlSeconds: options.tokenTtlSeconds ?? 0,
      renewable: options.tokenRenewable ?? (options.tokenTtlSeconds ?? 0) > 0,
      maxTtlSeconds: options.tokenMaxTtlSeconds ?? 0,
    });
  }

  now(): number {
    return Date.now() / 1000 + this.clockOffsetSeconds;
  }

  // ---- tokens and auth methods -------------------------------------------------------------

  addToken(token: string, options: TokenOptions): void {
    const now = this.now();
    const max = options.maxTtlSeconds ?? 0;
    this.tokens.set(token, {
      creationTtl: options.ttlSeconds,
      renewable: options.renewable ?? true,
      issuedAt: now,
      expiresAt: options.ttlSeconds > 0 ? now + options.ttlSeconds : undefined,
      maxExpiresAt: max > 0 ? now + max : undefined,
      policy: tokenPolicy(options.policy, options.noDefaultPolicy),
    });
  }

  issue(options: TokenOptions): string {
    const token = `s.${randomBytes(18).toString("base64url")}`;
    this.addToken(token, options);
    return token;
  }

  /** The live entry for a token, dropping it once expired (OpenBao revokes expired tokens). */
  live(token: string | undefined): TokenEntry | undefined {
    if (token === undefined) return undefined;
    const entry = this.tokens.get(token);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= this.now()) {
      this.tokens.delete(token);
      return undefined;
    }
    return entry;
  }

  ttlOf(entry: TokenEntry): number {
    return entry.expiresAt === undefined ? 0 : Math.max(0, Math.floor(entry.expiresAt - this.now()));
  }

  lookupSelf(token: string, entry: TokenEntry): HttpAnswer {
    return envelope({
      accessor: randomBytes(12).toString("base64url"),
      creation_time: Math.floor(entry.issuedAt),
      creation_ttl: entry.creationTtl,
      display_name: "token",
      entity_id: "",
      expire_time: entry.expiresAt === undefined ? null : new Date(entry.expiresAt * 1000).toISOString(),
      explicit_max_ttl: 0,
      id: token,
      issue_time: new Date(entry.issuedAt * 1000).toISOString(),
      meta: null,
      num_uses: 0,
      orphan: true,
      path: "auth/token/create",
      policies: ["custos", "default"],
      renewable: entry.renewable,
      ttl: this.ttlOf(entry),
      type: "service",
    });
  }

  authAnswer(token: string, entry: TokenEntry, warnings: string[] | null = null): HttpAnswer {
    return new HttpAnswer(200, {
      request_id: randomUUID(),
      lease_id: "",
      renewable: false,
      lease_duration: 0,
      data: null,
      wrap_info: null,
      warnings,
      auth: {
        client_token: token,
        accessor: randomBytes(12).toString("base64url"),
        policies: ["custos", "default"],
        token_policies: ["custos", "default"],
        metadata: null,
        lease_duration: this.ttlOf(entry),
        renewable: entry.renewable,
        entity_id: "",
        token_type: "service",
        orphan: true,
      },
    });
  }

  renewSelf(token: string, entry: TokenEntry, body: unknown): HttpAnswer {
    if (!entry.renewable || entry.expiresAt === undefined) return errors(400, "lease is not renewable");
    const params = isRecord(body) ? body : {};
    const increment = typeof params.increment === "number" && params.increment > 0 ? params.increment : entry.creationTtl;
    let expiresAt = this.now() + increment;
    const warnings: string[] = [];
    if (entry.maxExpiresAt !== undefined && expiresAt > entry.maxExpiresAt) {
      expiresAt = entry.maxExpiresAt;
      warnings.push("TTL of the token exceeded the effective max_ttl; TTL value is capped accordingly");
    }
    entry.expiresAt = expiresAt;
    return this.authAnswer(token, entry, warnings.length === 0 ? null : warnings);
  }

  login(method: "approle" | "kubernetes", body: unknown): HttpAnswer {
    const params = isRecord(body) ? body : {};
    let role: TokenOptions | undefined;
    if (method === "approle") {
      if (typeof params.role_id !== "string" || params.role_id === "") return errors(400, "missing role_id");
      const found = this.appRoles.get(params.role_id);
      if (found === undefined) return errors(400, "invalid role or secret ID");
      if (params.secret_id !== found.secretId) return errors(400, "invalid role or secret ID");
      role = found;
    } else {
      if (typeof params.role !== "string" || params.role === "") return errors(400, "missing role");
      if (typeof params.jwt !== "string" || params.jwt === "") return errors(400, "missing jwt");
      const found = this.kubernetesRoles.get(params.role);
      if (found === undefined) return errors(400, `invalid role name "${params.role}"`);
      if (params.jwt !== found.jwt) return errors(403, "permission denied");
      role = found;
    }
    this.logins[method] += 1;
    const token = this.issue(role);
    const entry = this.tokens.get(token);
    if (entry === undefined) return errors(500, "internal error");
    return this.authAnswer(token, entry);
  }

  // ---- sys -------------------------------------------------------------------------------

  /**
   * sys/health with OpenBao's query parameters (vault/http/sys_health.go): standbyok,
   * activecode (200), standbycode (429), sealedcode (503), uninitcode (501).
   */
  health(query: URLSearchParams): HttpAnswer {
    const code = (name: string, fallback: number): number => {
      const value = Number(query.get(name));
      return query.has(name) && Number.isInteger(value) && value >= 100 && value <= 599 ? value : fallback;
    };
    const standbyOk = query.has("standbyok") && query.get("standbyok") !== "false";
    const body = {
      initialized: this.initialized,
      sealed: this.sealed,
      standby: this.activeNodeLost,
      performance_standby: false,
      replication_performance_mode: "disabled",
      replication_dr_mode: "disabled",
      server_time_utc: Math.floor(Date.now() / 1000),
      version: "2.0.0-double",
      cluster_name: "openbao-double",
      cluster_id: "00000000-0000-0000-0000-000000000000",
    };
    const status = !this.initialized ? code("uninitcode", 501) : this.sealed ? code("sealedcode", 503) : this.activeNodeLost && !standbyOk ? code("standbycode", 429) : code("activecode", 200);
    return new HttpAnswer(status, body);
  }

  sealStatus(): HttpAnswer {
    return new HttpAnswer(200, {
      type: "shamir",
      initialized: this.initialized,
      sealed: this.sealed,
      t: 1,
      n: 1,
      progress: 0,
      nonce: "",
      version: "2.0.0-double",
      build_date: "2024-01-01T00:00:00Z",
      migration: false,
      recovery_seal: false,
      storage_type: "inmem",
    });
  }

  // ---- KV v2 -----------------------------------------------------------------------------

  kvRead(key: string, query: URLSearchParams): HttpAnswer {
    const versions = this.kv.get(key);
    if (versions === undefined || versions.length === 0) return errors(404);
    const wanted = query.has("version") ? Number(query.get("version")) : 0;
    const version = wanted === 0 ? versions.length : wanted;
    const entry = versions[version - 1];
    if (entry === undefined) return errors(404);
    const metadata = { created_time: entry.createdTime, custom_metadata: null, deletion_time: entry.deletionTime, destroyed: entry.destroyed, version };
    // KV v2 answers a deleted or destroyed version 404 with its metadata and no data.
    if (entry.destroyed || entry.deletionTime !== "") {
      const answer = envelope({ data: null, metadata });
      return new HttpAnswer(404, answer.body);
    }
    return envelope({ data: entry.data, metadata });
  }

  /** DELETE data/<path>: the latest version is soft-deleted (undelete would bring it back). */
  kvDeleteLatest(key: string): HttpAnswer {
    const latest = this.kv.get(key)?.at(-1);
    if (latest !== undefined && latest.deletionTime === "") latest.deletionTime = new Date().toISOString();
    return new HttpAnswer(204, undefined);
  }

  /** delete/<path> and destroy/<path> with `versions`: soft-delete, or destroy for good. */
  kvVersionsAction(key: string, body: unknown, action: "delete" | "destroy"): HttpAnswer {
    const wanted = isRecord(body) && Array.isArray(body.versions) ? body.versions : undefined;
    if (wanted === undefined || wanted.length === 0) return errors(400, "no version number provided");
    const versions = this.kv.get(key) ?? [];
    for (const number of wanted) {
      const entry = typeof number === "number" ? versions[number - 1] : undefined;
      if (entry === undefined) continue;
      if (action === "destroy") entry.destroyed = true;
      else if (entry.deletionTime === "") entry.deletionTime = new Date().toISOString();
    }
    return new HttpAnswer(204, undefined);
  }

  kvWrite(key: string, body: unknown): HttpAnswer {
    if (!isRecord(body) || !isRecord(body.data)) return errors(400, "no data provided");
    const versions = this.kv.get(key) ?? [];
    const cas = isRecord(body.options) ? body.options.cas : undefined;
    if (cas === undefined && this.kvCasRequired) return errors(400, "check-and-set parameter required for this call");
    if (cas !== undefined && cas !== versions.length) {
      return errors(400, "check-and-set parameter did not match the current version");
    }
    const createdTime = new Date().toISOString();
    versions.push({ data: structuredClone(body.data), createdTime, deletionTime: "", destroyed: false });
    this.kv.set(key, versions);
    return envelope({ created_time: createdTime, custom_metadata: null, deletion_time: "", destroyed: false, version: versions.length });
  }

  kvMetadata(key: string): HttpAnswer {
    const versions = this.kv.get(key);
    if (versions === undefined || versions.length === 0) return errors(404);
    return envelope({
      cas_required: this.kvCasRequired,
      created_time: versions[0]?.createdTime,
      current_version: versions.length,
      custom_metadata: null,
      delete_version_after: "0s",
      max_versions: 0,
      oldest_version: 0,
      updated_time: versions[versions.length - 1]?.createdTime,
      versions: Object.fromEntries(versions.map((entry, index) => [String(index + 1), { created_time: entry.createdTime, deletion_time: entry.deletionTime, destroyed: entry.destroyed }])),
    });
  }

  // ---- Transit ---------------------------------------------------------------------------

  createKey(name: string, derived: boolean, convergent = false): boolean {
    if (this.keys.has(name)) return false;
    this.keys.set(name, {
      derived,
      versions: [randomBytes(32)],
      createdAt: [Math.floor(Date.now() / 1000)],
      convergent,
      softDeleted: false,
      minDecryptionVersion: 1,
    });
    return true;
  }

  /**
   * transit/keys/<name> create: OpenBao answers 200 with the key, as a read would; creating a
   * key that exists changes nothing and warns "key <name> already existed".
   */
  keyWrite(name: string, body: unknown): HttpAnswer {
    const params = isRecord(body) ? body : {};
    const type = params.type ?? "aes256-gcm96";
    if (type !== "aes256-gcm96") return errors(400, `unknown key type: ${JSON.stringify(type)}`);
    const created = this.createKey(name, params.derived === true, params.convergent_encryption === true);
    const answer = this.keyRead(name);
    if (!created && isRecord(answer.body)) answer.body.warnings = [`key ${name} already existed`];
    return answer;
  }

  keyRead(name: string): HttpAnswer {
    const key = this.keys.get(name);
    if (key === undefined) return errors(404);
    const keys: Record<string, number> = {};
    key.createdAt.forEach((at, index) => {
      if (index + 1 >= key.minDecryptionVersion) keys[String(index + 1)] = at;
    });
    return envelope({
      name,
      type: "aes256-gcm96",
      derived: key.derived,
      ...(key.derived ? { kdf: "hkdf_sha256" } : {}),
      ...(key.convergent ? { convergent_encryption: true, convergent_encryption_version: 2 } : {}),
      soft_deleted: key.softDeleted,
      keys,
      latest_version: key.versions.length,
      min_available_version: 0,
      min_decryption_version: key.minDecryptionVersion,
      min_encryption_version: 0,
      deletion_allowed: false,
      exportable: false,
      allow_plaintext_backup: false,
      supports_encryption: true,
      supports_decryption: true,
      supports_derivation: true,
      supports_signing: false,
    });
  }

  /** The key for one version and context, or the error OpenBao answers. */
  private keyFor(key: TransitKey, version: number, context: Buffer | undefined): Buffer | HttpAnswer {
    if (version > key.versions.length) return errors(400, "invalid ciphertext: version is too new");
    if (version < key.minDecryptionVersion) return errors(400, "ciphertext or signature version is disallowed by policy (too old)");
    const material = key.versions[version - 1];
    if (material === undefined) return errors(400, "invalid key version");
    if (!key.derived) return material;
    if (context === undefined || context.length === 0) return errors(400, MISSING_CONTEXT);
    return Buffer.from(hkdfSync("sha256", material, Buffer.alloc(0), context, 32));
  }

  encrypt(name: string, body: unknown): HttpAnswer {
    const params = isRecord(body) ? body : {};
    if (params.plaintext === undefined) return errors(400, "missing plaintext to encrypt");
    const plaintext = decodeBase64(params.plaintext);
    if (plaintext === undefined) return errors(400, "failed to base64-decode plaintext");
    const context = params.context === undefined ? undefined : decodeBase64(params.context);
    if (params.context !== undefined && context === undefined) return errors(400, "failed to base64-decode context");
    // Encrypt upserts a missing key (derived when a context is given), as OpenBao does.
    this.createKey(name, context !== undefined && context.length > 0);
    const key = this.keys.get(name);
    if (key === undefined) return errors(500, "internal error");
    if (key.softDeleted) return errors(400, SOFT_DELETED);
    const version = key.versions.length;
    const secret = this.keyFor(key, version, context);
    if (secret instanceof HttpAnswer) return secret;
    const nonce = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", secret, nonce);
    const sealed = Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return envelope({ ciphertext: `vault:v${version}:${sealed.toString("base64")}`, key_version: version });
  }

  decrypt(name: string, body: unknown): HttpAnswer {
    const params = isRecord(body) ? body : {};
    const key = this.keys.get(name);
    if (key === undefined) return errors(400, "encryption key not found");
    if (key.softDeleted) return errors(400, SOFT_DELETED);
    if (typeof params.ciphertext !== "string") return errors(400, "missing ciphertext to decrypt");
    const context = params.context === undefined ? undefined : decodeBase64(params.context);
    if (params.context !== undefined && context === undefined) return errors(400, "failed to base64-decode context");
    const match = /^vault:v(\d+):(.*)$/s.exec(params.ciphertext);
    if (!params.ciphertext.startsWith("vault:")) return errors(400, "invalid ciphertext: no prefix");
    if (match?.[1] === undefined || match[2] === undefined) return errors(400, "invalid ciphertext: wrong number of fields");
    const secret = this.keyFor(key, Number(match[1]), context);
    if (secret instanceof HttpAnswer) return secret;
    const sealed = decodeBase64(match[2]);
    if (sealed === undefined || sealed.length < 28) return errors(400, "invalid ciphertext: could not decode base64");
    try {
      const decipher = createDecipheriv("aes-256-gcm", secret, sealed.subarray(0, 12));
      decipher.setAuthTag(sealed.subarray(sealed.length - 16));
      const plaintext = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
      return envelope({ plaintext: plaintext.toString("base64") });
    } catch {
      return errors(400, "cipher: message authentication failed");
    }
  }

  /** transit/rewrap/<name>: decrypts (min_decryption_version applies) and encrypts with the latest version. */
  rewrap(name: string, body: unknown): HttpAnswer {
    if (!this.keys.has(name)) return errors(400, "encryption key not found");
    const params = isRecord(body) ? body : {};
    const decrypted = this.decrypt(name, body);
    if (decrypted.status !== 200) return decrypted;
    const plaintext = isRecord(decrypted.body) && isRecord(decrypted.body.data) ? decrypted.body.data.plaintext : undefined;
    return this.encrypt(name, { plaintext, context: params.context });
  }

  // ---- ACL -------------------------------------------------------------------------------

  /** The capability OpenBao's ACL checks: create or update as the handler's existence check says. */
  requiredCapability(method: string, path: string, query: URLSearchParams): string {
    if (method === "GET") return query.get("list") === "true" ? "list" : "read";
    if (method === "LIST") return "list";
    if (method === "DELETE") return "delete";
    const kvData = `${this.kvMount}/data/`;
    // KV v2's data path: create for a path without metadata, update otherwise.
    if (path.startsWith(kvData)) return this.kv.has(path.slice(kvData.length)) ? "update" : "create";
    // Transit encrypt upserts: a missing key needs create (transit's pathEncryptExistenceCheck).
    const encrypt = `${this.transitMount}/encrypt/`;
    if (path.startsWith(encrypt)) return this.keys.has(path.slice(encrypt.length)) ? "update" : "create";
    return "update";
  }

  /** sys/capabilities-self: each path's capabilities, and `capabilities` alone for one path. */
  capabilitiesSelf(policy: Policy, body: unknown): HttpAnswer {
    const params = isRecord(body) ? body : {};
    const paths = Array.isArray(params.paths) ? params.paths : typeof params.path === "string" ? [params.path] : [];
    if (paths.length === 0 || !paths.every((entry): entry is string => typeof entry === "string")) return errors(400, "'paths' must be specified");
    const data: Record<string, string[]> = {};
    for (const path of paths) data[path] = capabilitiesOn(policy, path);
    if (paths.length === 1 && paths[0] !== undefined) data.capabilities = data[paths[0]] ?? ["deny"];
    return envelope(data);
  }

  // ---- routing ---------------------------------------------------------------------------

  route(method: string, path: string, query: URLSearchParams, body: unknown, policy: Policy): HttpAnswer {
    if (this.kvVersion1 && path.startsWith(`${this.kvMount}/`)) {
      // A KV v1 mount: every path is a secret; nothing is stored in this double's v1.
      return method === "GET" ? errors(404) : new HttpAnswer(204, undefined);
    }
    const mounts = "sys/internal/ui/mounts/";
    if (path.startsWith(mounts) && method === "GET") {
      const mount = path.slice(mounts.length).replace(/\/$/, "");
      // pathInternalUIMountRead: answered only to a token with some capability under the mount.
      if (!grantsUnder(policy, `${mount}/`)) {
        return errors(403, `preflight capability check returned 403, please ensure client's policies grant access to path "${mount}/"`);
      }
      if (mount === this.kvMount) {
        return envelope({ path: `${mount}/`, type: "kv", description: "", options: this.kvVersion1 ? { version: "1" } : { version: "2" } });
      }
      if (mount === this.transitMount) return envelope({ path: `${mount}/`, type: "transit", description: "", options: null });
      return errors(403, `preflight capability check returned 403, please ensure client's policies grant access to path "${mount}/"`);
    }
    if (path === `${this.kvMount}/config` && method === "GET") {
      return envelope({ cas_required: this.kvCasRequired, delete_version_after: "0s", max_versions: 0 });
    }
    if (path === "sys/capabilities-self" && (method === "POST" || method === "PUT")) return this.capabilitiesSelf(policy, body);
    for (const action of ["delete", "destroy"] as const) {
      const prefix = `${this.kvMount}/${action}/`;
      if (path.startsWith(prefix) && path.length > prefix.length && (method === "POST" || method === "PUT")) {
        return this.kvVersionsAction(path.slice(prefix.length), body, action);
      }
    }
    const kvMetadata = `${this.kvMount}/metadata/`;
    if (path.startsWith(kvMetadata) && path.length > kvMetadata.length && method === "DELETE") {
      this.kv.delete(path.slice(kvMetadata.length));
      return new HttpAnswer(204, undefined);
    }
    if (path.startsWith(kvMetadata) && path.length > kvMetadata.length && method === "GET") return this.kvMetadata(path.slice(kvMetadata.length));
    const kvData = `${this.kvMount}/data/`;
    if (path.startsWith(kvData) && path.length > kvData.length) {
      const key = path.slice(kvData.length);
      if (method === "GET") return this.kvRead(key, query);
      if (method === "POST" || method === "PUT") return this.kvWrite(key, body);
      if (method === "DELETE") return this.kvDeleteLatest(key);
      return errors(405);
    }
    const transit = /^([^/]+)\/(keys|encrypt|decrypt|rewrap)\/([^/]+)$/.exec(path);
    if (transit?.[1] === this.transitMount && transit[2] !== undefined && transit[3] !== undefined) {
      const [, , operation, name] = transit;
      if (operation === "keys" && method === "GET") return this.keyRead(name);
      if (method !== "POST" && method !== "PUT") return errors(405);
      if (operation === "keys") return this.keyWrite(name, body);
      if (operation === "encrypt") return this.encrypt(name, body);
      if (operation === "rewrap") return this.rewrap(name, body);
      return this.decrypt(name, body);
    }
    return errors(404, `no handler for route "${path}". route entry not found.`);
  }
}

function send(res: http.ServerResponse, answer: HttpAnswer): void {
  if (answer.body === undefined) {
    res.writeHead(answer.status, answer.headers).end();
    return;
  }
  const payload = JSON.stringify(answer.body);
  res.writeHead(answer.status, { ...answer.headers, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) });
  res.end(payload);
}

/** Starts the double on 127.0.0.1 and an ephemeral port. */
export async function startOpenBaoDouble(options: OpenBaoDoubleOptions = {}): Promise<OpenBaoDouble> {
  const state = new DoubleState(options);
  const requests: string[] = [];
  const received: ReceivedRequest[] = [];
  let redirect: string | undefined;
  let quota: { readonly limit: number; readonly intervalSeconds: number; windowStart: number; used: number } | undefined;

  /** The 429 a rate-limit quota answers, or undefined while the request fits the quota. */
  function overQuota(path: string): HttpAnswer | undefined {
    // OpenBao exempts sys/health and sys/seal-status from rate-limit quotas.
    if (quota === undefined || path === "sys/health" || path === "sys/seal-status") return undefined;
    const now = Date.now();
    if (now - quota.windowStart >= quota.intervalSeconds * 1000) {
      quota.windowStart = now;
      quota.used = 0;
    }
    quota.used += 1;
    if (quota.used <= quota.limit) return undefined;
    const retryAfter = Math.max(1, Math.ceil((quota.windowStart + quota.intervalSeconds * 1000 - now) / 1000));
    return new HttpAnswer(429, { errors: [`request path "${path}": rate limit quota exceeded`] }, { "Retry-After": String(retryAfter) });
  }
  const held: http.ServerResponse[] = [];
  const injected: { failure: InjectedFailure; left: number }[] = [];
  let hanging = false;

  /** The injected failure for this request, counting it down. */
  function injectedFor(request: string): InjectedFailure | undefined {
    const entry = injected.find((candidate) => candidate.left > 0 && (candidate.failure.match?.test(request) ?? true));
    if (entry === undefined) return undefined;
    entry.left -= 1;
    return entry.failure;
  }

  /** The answer OpenBao would give, in its order: unauthenticated sys paths, seal, token, route. */
  async function answer(req: http.IncomingMessage, url: URL, method: string): Promise<HttpAnswer> {
    if (!url.pathname.startsWith("/v1/")) return errors(404);
    const path = url.pathname.slice("/v1/".length);
    const limited = overQuota(path);
    if (limited !== undefined) return limited;
    if (path === "sys/health") return state.health(url.searchParams);
    if (path === "sys/seal-status") return state.sealStatus();
    if (state.sealed) return errors(503, "Vault is sealed");
    // A standby that redirects instead of forwarding (internal/http/handler.go handleRequestForwarding).
    if (redirect !== undefined) return new HttpAnswer(307, undefined, { Location: `${redirect}${url.pathname}${url.search}` });
    // internal/http/handler.go forwardRequest: a standby whose leader is unknown answers 500.
    if (state.activeNodeLost) return errors(500, NO_ACTIVE_NODE);
    let body: unknown = undefined;
    const raw = await readBody(req);
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {
        return errors(400, "failed to parse JSON input");
      }
    }
    // Tokens and auth mounts live in their namespace: from another one, a login finds no
    // route and a token is unknown.
    const namespace = (typeof req.headers["x-vault-namespace"] === "string" ? req.headers["x-vault-namespace"] : "").replace(/^\/+|\/+$/g, "");
    const inNamespace = namespace === (options.namespace ?? "").replace(/^\/+|\/+$/g, "");
    if (!inNamespace && path.startsWith("auth/") && path.endsWith("/login")) return errors(404, `no handler for route "${path}". route entry not found.`);
    // Login paths are unauthenticated; a token header sent with them is not looked at here.
    if (method === "POST" || method === "PUT") {
      if (path === "auth/approle/login") return state.login("approle", body);
      if (path === "auth/kubernetes/login") return state.login("kubernetes", body);
    }
    const header = req.headers["x-vault-token"];
    const token = typeof header === "string" ? header : undefined;
    const entry = state.live(token);
    if (token === undefined || entry === undefined || !inNamespace) return errors(403, "permission denied");
    // The ACL (sys/internal/ui/mounts checks its own way: see route()).
    if (!path.startsWith("sys/internal/ui/mounts/") && !allows(entry.policy, path, state.requiredCapability(method, path, url.searchParams))) {
      return errors(403, "1 error occurred:\n\t* permission denied\n\n");
    }
    if (path === "auth/token/lookup-self" && method === "GET") return state.lookupSelf(token, entry);
    if (path === "auth/token/renew-self" && (method === "POST" || method === "PUT")) return state.renewSelf(token, entry, body);
    return state.route(method, path, url.searchParams, body, entry.policy);
  }

  /** Answers computed on arrival but sent only when their gate opens (holdNextAnswer). */
  const heldAnswers = new Map<string, Promise<void>>();

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://double.invalid");
    const method = req.method ?? "GET";
    const request = `${method} ${url.pathname}`;
    requests.push(request);
    received.push({ request, headers: req.headers });
    if (hanging) {
      held.push(res);
      return;
    }
    const failure = injectedFor(request);
    if (failure?.afterApplying === true) {
      await answer(req, url, method);
      res.destroy();
      return;
    }
    if (failure?.status === "drop") {
      res.destroy();
      return;
    }
    if (failure !== undefined) {
      const payload = JSON.stringify({ errors: failure.errors ?? [] });
      res.writeHead(failure.status, {
        "Content-Type": "application/json",
        "Content-Length": Buffer.byteLength(payload),
        ...(failure.retryAfter === undefined ? {} : { "Retry-After": failure.retryAfter }),
      });
      res.end(payload);
      return;
    }
    const reply = await answer(req, url, method);
    const gate = heldAnswers.get(request);
    if (gate !== undefined) {
      heldAnswers.delete(request);
      await gate;
    }
    send(res, reply);
  }

  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, errors(500, "internal error"));
    });
  };
  const tls = options.tls;
  const server = tls === undefined
    ? http.createServer(listener)
    : https.createServer({ key: tls.key, cert: tls.cert, ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }) }, listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  function release(): void {
    hanging = false;
    for (const res of held.splice(0)) res.destroy();
  }

  return {
    addr: `${tls === undefined ? "http" : "https"}://${options.host ?? "127.0.0.1"}:${String(port)}`,
    token: state.token,
    requests,
    received,
    holdNextAnswer: (request) => {
      let release: () => void = () => undefined;
      heldAnswers.set(request, new Promise<void>((resolve) => { release = resolve; }));
      return () => { release(); };
    },
    limitRate: (limit) => {
      quota = limit === undefined ? undefined : { ...limit, windowStart: Date.now(), used: 0 };
    },
    redirectTo: (target) => {
      redirect = target;
    },
    seal: () => {
      state.sealed = true;
    },
    uninitialize: () => {
      state.initialized = false;
      state.sealed = true;
    },
    unseal: () => {
      state.sealed = false;
    },
    hang: () => {
      hanging = true;
    },
    release,
    get hanging() {
      return hanging;
    },
    heldRequests: () => held.length,
    createTransitKey: (name, { derived, convergent }) => {
      state.createKey(name, derived, convergent ?? false);
    },
    rotateTransitKey: (name) => {
      const key = state.keys.get(name);
      if (key === undefined) throw new Error(`no transit key ${name}`);
      key.versions.push(randomBytes(32));
      key.createdAt.push(Math.floor(Date.now() / 1000));
    },
    setMinDecryptionVersion: (name, version) => {
      const key = state.keys.get(name);
      if (key === undefined) throw new Error(`no transit key ${name}`);
      key.minDecryptionVersion = version;
    },
    softDeleteTransitKey: (name, deleted = true) => {
      const key = state.keys.get(name);
      if (key === undefined) throw new Error(`no transit key ${name}`);
      key.softDeleted = deleted;
    },
    deleteTransitKey: (name) => {
      state.keys.delete(name);
    },
    transitKey: (name) => {
      const key = state.keys.get(name);
      return key === undefined ? undefined : { derived: key.derived, latestVersion: key.versions.length };
    },
    inject: (failure) => {
      injected.push({ failure, left: failure.times });
    },
    kvVersions: (key) => state.kv.get(key)?.length ?? 0,
    advanceClock: (seconds) => {
      state.clockOffsetSeconds += seconds;
    },
    issueToken: (tokenOptions) => state.issue(tokenOptions),
    revokeToken: (token) => {
      state.tokens.delete(token);
    },
    revokeIssuedTokens: () => {
      for (const token of [...state.tokens.keys()]) if (token !== state.token) state.tokens.delete(token);
    },
    tokenTtl: (token) => {
      const entry = state.live(token);
      return entry === undefined ? undefined : state.ttlOf(entry);
    },
    addAppRole: (role) => {
      state.appRoles.set(role.roleId, role);
    },
    addKubernetesRole: (role) => {
      state.kubernetesRoles.set(role.role, role);
    },
    logins: state.logins,
    loseActiveNode: () => {
      state.activeNodeLost = true;
    },
    restoreActiveNode: () => {
      state.activeNodeLost = false;
    },
    stop: async () => {
      release();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => {
        server.close((error) => {
          if (error) reject(error);
          else resolve();
        });
      });
    },
  };
}
