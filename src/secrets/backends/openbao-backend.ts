import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import vault from "node-vault";
import { z } from "zod";
import type { OpenBaoAuth, OpenBaoConfig } from "../../platform/config.ts";
import { CustosError } from "../../platform/errors.ts";
import { parseDomainId, parseSecretName } from "../../platform/names.ts";
import type { ReadinessProbe } from "../../platform/readiness.ts";
import { backendUnavailable, SecretBackendFailure, unwrapRejected } from "../backend-errors.ts";
import type { SecretBackend, StoredSecret, WrittenSecret } from "../secret-backend.ts";
import {
  authAnswer,
  capabilitiesAnswer,
  decryptAnswer,
  encryptAnswer,
  kvMetadataAnswer,
  kvReadAnswer,
  kvWriteAnswer,
  lookupSelfAnswer,
  mountAnswer,
  parseAnswer,
  TRANSIT_CIPHERTEXT,
  transitKeyAnswer,
  transitKeyProblem,
  type TransitKeyFacts,
} from "./openbao/answers.ts";
import { missingCapabilities, requiredCapabilities, type CapabilityPurpose } from "./openbao/capabilities.ts";
import { classify, decryptRefusalIsTampering, waitBeforeRetry, withDeadline, withRetryAfter } from "./openbao/failures.ts";
import { createOpenBaoTransport, type OpenBaoTransport } from "./openbao/transport.ts";

/**
 * The production secret backend: OpenBao (or Vault) over its HTTP API, through node-vault.
 *
 * - Values live in KV v2 at `<kvMount>/data/<kvPrefix>/<domain>/<name>`, as `{ value: <base64> }`
 *   so that binary values survive JSON. KV v2 keeps the versions; Custos owns `<kvPrefix>/`
 *   (OPENBAO_KV_PREFIX, `custos`).
 * - Key wrapping uses Transit `<transitMount>/encrypt|decrypt/<transitKey>` with the wrapping
 *   context as the key-derivation `context`, so a ciphertext only unwraps for its own purpose.
 *   That binding holds only for a *derived* key: a non-derived key ignores the context.
 *
 * Operator setup, the least-privilege policy and the runbook: docs/openbao.md. In short: a
 * KV v2 mount, a Transit mount, the key created once by `custos backend init` (start-up only
 * checks it, see checkTransitKey), and a token from OPENBAO_AUTH (static, AppRole or
 * Kubernetes) that the adapter renews or replaces before it expires.
 *
 * Beside it, in openbao/: the answers' shapes (answers.ts), failure naming and retry timing
 * (failures.ts), the HTTP transport under node-vault (transport.ts), the capabilities each
 * command needs (capabilities.ts) and `custos backend rewrap` (rewrap-stored-material.ts).
 */

// For tests and callers that import them from the adapter.
export { decryptRefusalIsTampering } from "./openbao/failures.ts";
export { transitKeyProblem } from "./openbao/answers.ts";

export const DEFAULT_OPENBAO_TIMEOUT_MS = 2_000;

/** The part of pino's Logger the adapter writes to: operator-facing lines, never a value or token. */
export interface BackendLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const SILENT_LOG: BackendLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

export interface OpenBaoBackendOptions {
  /** Upper bound on one backend call; a hung OpenBao fails closed after this long. Overrides config.timeoutMs. */
  readonly timeoutMs?: number;
  readonly log?: BackendLog;
  /** Milliseconds since the epoch; tests move it to expire tokens without waiting. */
  readonly now?: () => number;
}

/** A token is renewed (or replaced by a new login) once this share of its TTL has passed. */
const RENEW_AT_FRACTION = 2 / 3;
/** A token this close to its expiry is not used: the call would race it. */
const EXPIRY_MARGIN_MS = 1_000;

/** Marks each attempt so the transport can note its Retry-After (node-vault drops response headers); never sent. */
const ATTEMPT_HEADER = "X-Custos-Attempt";

function toBase64(bytes: Uint8Array | string): string {
  return (typeof bytes === "string" ? Buffer.from(bytes, "utf8") : Buffer.from(bytes)).toString("base64");
}

/** node-vault request options carrying one call's token. */
interface TokenHeader {
  readonly headers: Record<string, string>;
}

/** The token in use and what OpenBao said about it. */
interface HeldToken {
  readonly token: string;
  /** Milliseconds since the epoch (the adapter's clock); undefined for a token that never expires. */
  readonly expiresAt: number | undefined;
  /** When to renew or log in again; undefined when there is nothing to do. */
  readonly refreshAt: number | undefined;
  readonly renewable: boolean;
}

async function readCredentialFile(file: string, variable: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "error";
    throw new SecretBackendFailure("rejected", `cannot read ${variable} (${file}): ${code}`);
  }
  const value = text.trim();
  if (value === "") throw new SecretBackendFailure("rejected", `${variable} (${file}) is empty`);
  return value;
}

export class OpenBaoSecretBackend implements SecretBackend {
  readonly readiness: ReadinessProbe;
  readonly #config: OpenBaoConfig;
  readonly #timeoutMs: number;
  readonly #log: BackendLog;
  readonly #now: () => number;
  readonly #transport: OpenBaoTransport;
  readonly #kvPrefix: string;
  readonly #client: vault.client;
  /** Retry-After values by attempt id, noted by the agents, taken by #request. */
  readonly #retryAfter = new Map<string, string>();
  #held: HeldToken | undefined;
  /** The one login or renewal in flight; concurrent callers share it. */
  #refreshing: Promise<HeldToken> | undefined;
  #refreshTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(config: OpenBaoConfig, options: OpenBaoBackendOptions = {}) {
    this.#config = config;
    this.#timeoutMs = options.timeoutMs ?? config.timeoutMs;
    this.#log = options.log ?? SILENT_LOG;
    this.#now = options.now ?? Date.now;
    this.#kvPrefix = config.kvPrefix ?? "custos";
    // node-vault on Custos's own transport: no proxy from the environment, redirects that never
    // carry the token to plain HTTP elsewhere, TLS settings, Retry-After (see transport.ts).
    this.#transport = createOpenBaoTransport({
      addr: config.addr,
      tls: config.tls,
      attemptHeader: ATTEMPT_HEADER,
      onRetryAfter: (attempt, value) => {
        this.#retryAfter.set(attempt, value);
      },
      onRefusedRedirect: (to) => {
        this.#log.error({ backend: "openbao", redirect_to: to }, `OpenBao redirected a request to ${to}; not followed, since the token would travel in clear. Point OPENBAO_ADDR at the active node, or give the cluster https api_addr values`);
      },
    });
    // No token here: each call carries the current one in its own header (see #request), so a
    // login never sends a stale token and a renewal never races a call in flight.
    const clientOptions: vault.VaultOptions = {
      endpoint: config.addr,
      // node-vault's debug() prints request bodies (plaintexts, values); never enable it.
      debug: () => undefined,
      "request-promise": this.#transport.requestPromise,
      requestOptions: { timeout: this.#timeoutMs },
    };
    this.#client = vault(clientOptions);
    // node-vault also reads VAULT_PREFIX and VAULT_NAMESPACE from the environment; Custos's
    // configuration is OPENBAO_* only, so a stray variable must not reroute requests.
    // The namespace goes on every request node-vault makes, logins included.
    Object.assign(this.#client, { pathPrefix: "", namespace: config.namespace });
    this.readiness = { name: "secret_backend", check: () => this.#checkReady() };
  }

  /**
   * Writes with check-and-set (`options.cas` = the current version, 0 for a new secret): a
   * mount with cas_required accepts it, and a retried write cannot add a second version. When
   * the check fails, the latest version is read: if it is this value at cas + 1, an earlier
   * attempt landed and its answer was lost; otherwise another write came first (conflict).
   */
  async writeSecret(domain: string, name: string, value: Buffer): Promise<WrittenSecret> {
    const path = this.#kvPath(domain, name);
    const cas = await this.#currentVersion(domain, name);
    let body: unknown;
    try {
      body = await this.#request((client, token) => client.write(path, { options: { cas }, data: { value: value.toString("base64") } }, token));
    } catch (error) {
      const failure = classify(error);
      if (failure.kind !== "conflict") throw backendUnavailable("store the secret", failure);
      const latest = await this.readSecret(domain, name);
      if (latest !== undefined && latest.version === cas + 1 && latest.value.equals(value)) return { version: latest.version };
      throw backendUnavailable("store the secret (another write changed it first; try again)", failure);
    }
    return { version: this.#parse(kvWriteAnswer, body, "store the secret").data.version };
  }

  /**
   * KV v2's `DELETE <mount>/metadata/<path>`: the key, its metadata and every version are
   * destroyed. OpenBao answers 204 whether or not the path existed, so a retry is safe.
   */
  async deleteSecret(domain: string, name: string): Promise<void> {
    const path = this.#metadataPath(domain, name);
    await this.#send("delete the secret", (client, token) => client.delete(path, token));
  }

  #metadataPath(domain: string, name: string): string {
    return `${this.#config.kvMount}/metadata/${this.#kvPrefix}/${parseDomainId(domain)}/${parseSecretName(name)}`;
  }

  /** KV v2 metadata's current_version, 0 when the secret has never been written. */
  async #currentVersion(domain: string, name: string): Promise<number> {
    const path = this.#metadataPath(domain, name);
    let body: unknown;
    try {
      body = await this.#request((client, token) => client.read(path, token));
    } catch (error) {
      const failure = classify(error);
      if (failure.kind === "not_found") return 0;
      throw backendUnavailable("store the secret", failure);
    }
    return this.#parse(kvMetadataAnswer, body, "store the secret").data.current_version;
  }

  async readSecret(domain: string, name: string, version?: number): Promise<StoredSecret | undefined> {
    if (version !== undefined && (!Number.isSafeInteger(version) || version < 1)) return undefined;
    // ?version=0 would be the latest: only a positive version is ever asked for.
    const path = `${this.#kvPath(domain, name)}${version === undefined ? "" : `?version=${String(version)}`}`;
    let body: unknown;
    try {
      body = await this.#request((client, token) => client.read(path, token));
    } catch (error) {
      const failure = classify(error);
      if (failure.kind === "not_found") return undefined;
      throw backendUnavailable("read the secret", failure);
    }
    const { data } = this.#parse(kvReadAnswer, body, "read the secret");
    if (version !== undefined && data.metadata.version !== version) {
      throw backendUnavailable("read the secret", new SecretBackendFailure("malformed_answer", `asked for version ${String(version)}, got ${String(data.metadata.version)}`));
    }
    return { value: Buffer.from(data.data.value, "base64"), version: data.metadata.version };
  }

  async wrap(plaintext: Uint8Array, context: string): Promise<string> {
    const path = `${this.#config.transitMount}/encrypt/${this.#config.transitKey}`;
    const body = await this.#send("wrap key material", (client, token) =>
      client.write(path, { plaintext: toBase64(plaintext), context: toBase64(context) }, token),
    );
    return this.#parse(encryptAnswer, body, "wrap key material").data.ciphertext;
  }

  async unwrap(wrapped: string, context: string): Promise<Buffer> {
    // A value that is not a Transit ciphertext (a local one, a truncated one) never leaves.
    if (!TRANSIT_CIPHERTEXT.test(wrapped)) {
      throw unwrapRejected(new SecretBackendFailure("rejected", "not a Transit ciphertext"));
    }
    const path = `${this.#config.transitMount}/decrypt/${this.#config.transitKey}`;
    let body: unknown;
    try {
      body = await this.#request((client, token) => client.write(path, { ciphertext: wrapped, context: toBase64(context) }, token));
    } catch (error) {
      throw this.#decryptRefused("unwrap key material", classify(error));
    }
    return Buffer.from(this.#parse(decryptAnswer, body, "unwrap key material").data.plaintext, "base64");
  }

  /**
   * `custos backend rewrap`: the same key material wrapped by the key's newest version, through
   * Transit's rewrap endpoint (the plaintext never leaves OpenBao). Errors as unwrap's: a
   * version below min_decryption_version is the key's state (secret_backend_unavailable,
   * logged), a ciphertext that does not authenticate is `internal`.
   */
  async rewrap(wrapped: string, context: string): Promise<string> {
    if (!TRANSIT_CIPHERTEXT.test(wrapped)) {
      throw unwrapRejected(new SecretBackendFailure("rejected", "not a Transit ciphertext"));
    }
    const path = `${this.#config.transitMount}/rewrap/${this.#config.transitKey}`;
    let body: unknown;
    try {
      body = await this.#request((client, token) => client.write(path, { ciphertext: wrapped, context: toBase64(context) }, token));
    } catch (error) {
      throw this.#decryptRefused("rewrap key material", classify(error));
    }
    return this.#parse(encryptAnswer, body, "rewrap key material").data.ciphertext;
  }

  /** The wrapping key's newest version and its min_decryption_version (0 or 1: every version). */
  async transitKeyVersions(): Promise<{ readonly latest: number; readonly minDecryption: number }> {
    const key = await this.#readTransitKey();
    if (key === undefined) throw this.#unfitKey("is missing", `Transit key ${this.#describeKey()} does not exist`);
    this.#requireFit(key);
    return { latest: key.latest_version, minDecryption: key.min_decryption_version ?? 1 };
  }

  /**
   * A decrypt or rewrap failure as the caller must see it. Transit answers 400 for both: only an
   * authentication failure (or a ciphertext that does not parse) is the ciphertext's fault;
   * every other 400 is the key's state, for an operator to fix, and is logged saying so.
   */
  #decryptRefused(operation: string, failure: SecretBackendFailure): CustosError {
    if (failure.kind !== "rejected" || failure.status !== 400) return backendUnavailable(operation, failure);
    if (decryptRefusalIsTampering(failure.message)) return unwrapRejected(failure);
    const tooOld = /too old/.test(failure.message)
      ? " A ciphertext older than min_decryption_version: lower it, run `custos backend rewrap`, then raise it again (docs/openbao.md, \"Rotating the Transit key\")."
      : "";
    this.#log.error(
      { backend: "openbao", transit_mount: this.#config.transitMount, transit_key: this.#config.transitKey, cause: failure.message },
      `OpenBao Transit refused to decrypt with key ${this.#config.transitKey}: ${failure.message}. This is the key's state (min_decryption_version, a deleted, soft-deleted or replaced key), not tampering; fix the key, then retry.${tooOld}`,
    );
    return backendUnavailable(operation, new SecretBackendFailure("storage", failure.message, failure.status));
  }

  /**
   * Authenticates (logs in, or looks the static token up to learn its TTL) and schedules its
   * renewal. Call once at start-up; calls made before it authenticate on first use.
   * Throws secret_backend_unavailable when OpenBao refuses the credentials.
   */
  async start(): Promise<void> {
    await this.#currentToken();
  }

  /**
   * Checks, at start-up, that OPENBAO_KV_MOUNT is a KV version 2 mount, as the OpenBao CLI
   * does (sys/internal/ui/mounts/<mount>, answered to any token with a capability under it).
   * On a KV v1 mount the data/ paths would be ordinary secret names. Throws secret_backend_unavailable.
   */
  async checkKvMount(): Promise<void> {
    const mount = this.#config.kvMount;
    const body = await this.#send("describe the KV mount", (client, token) => client.read(`sys/internal/ui/mounts/${mount}`, token));
    const { data } = this.#parse(mountAnswer, body, "describe the KV mount");
    const version = data.options?.version;
    if (data.type !== "kv" || version !== "2") {
      const is = data.type === "kv" ? `KV version ${version ?? "1"}` : `a ${data.type} mount`;
      const message = `OPENBAO_KV_MOUNT ${mount} is ${is}, not KV version 2: enable one with \`bao secrets enable -path=${mount} kv-v2\` (or \`bao kv enable-versioning ${mount}\`)`;
      this.#log.error({ backend: "openbao", kv_mount: mount }, message);
      throw new CustosError("secret_backend_unavailable", {
        detail: "the secret backend's KV mount is not KV version 2",
        cause: new SecretBackendFailure("rejected", message),
      });
    }
  }

  /**
   * Checks, at start-up, that the token's policy grants what `purpose` needs (see
   * capabilities.ts), with one sys/capabilities-self call; refuses naming each missing
   * capability and path. Call after start(). Throws secret_backend_unavailable.
   */
  async checkCapabilities(purpose: CapabilityPurpose): Promise<void> {
    const held = this.#held ?? (await this.#refresh());
    const required = requiredCapabilities(
      { kvMount: this.#config.kvMount, kvPrefix: this.#kvPrefix, transitMount: this.#config.transitMount, transitKey: this.#config.transitKey, renewable: held.renewable && held.expiresAt !== undefined },
      purpose,
    );
    let body: unknown;
    try {
      body = await this.#request((client, token) => client.write("sys/capabilities-self", { paths: required.map((need) => need.path) }, token));
    } catch (error) {
      const failure = classify(error);
      if (failure.kind !== "permission_denied") throw backendUnavailable("check its token's policy", failure);
      throw this.#policyRefused("update on sys/capabilities-self (the start-up check of the token's policy; it is in OpenBao's default policy)");
    }
    const missing = missingCapabilities(required, this.#parse(capabilitiesAnswer, body, "check its token's policy").data);
    if (missing.length > 0) throw this.#policyRefused(missing.join("; "));
  }

  #policyRefused(missing: string): CustosError {
    const message = `the OpenBao token's policy lacks ${missing}: add it to the policy (docs/openbao.md, "Least-privilege policy")`;
    this.#log.error({ backend: "openbao" }, message);
    return new CustosError("secret_backend_unavailable", {
      detail: "the secret backend's token lacks a capability Custos needs",
      cause: new SecretBackendFailure("permission_denied", message),
    });
  }

  /**
   * Checks, at start-up, that the Transit key exists and is fit to wrap: derived, not
   * convergent, not soft-deleted, able to encrypt and decrypt. It never creates one: a new key
   * under the configured name (a typo, a restored cluster, a deleted key) would unwrap none of
   * the material already wrapped, so a missing key stops start-up. The first key is made by
   * `custos backend init` (initTransitKey). Throws secret_backend_unavailable.
   */
  async checkTransitKey(): Promise<void> {
    const key = await this.#readTransitKey();
    if (key === undefined) {
      throw this.#unfitKey(
        "is missing",
        `Transit key ${this.#describeKey()} does not exist. On a first install run \`custos backend init\`; otherwise check OPENBAO_TRANSIT_MOUNT and OPENBAO_TRANSIT_KEY, or restore the key: a new key would unwrap none of the material already wrapped`,
      );
    }
    this.#requireFit(key);
  }

  /**
   * `custos backend init`: creates the Transit key (aes256-gcm96, derived) when it is missing
   * and `wrappedMaterial` is empty, and checks the creation answer. An existing fit key is left
   * alone ("exists"). Refuses, naming what it found, when the key is missing while wrapped
   * material exists. Throws secret_backend_unavailable.
   */
  async initTransitKey(wrappedMaterial: readonly string[]): Promise<"created" | "exists"> {
    const existing = await this.#readTransitKey();
    if (existing !== undefined) {
      this.#requireFit(existing);
      return "exists";
    }
    if (wrappedMaterial.length > 0) {
      throw this.#unfitKey(
        "is missing while wrapped material exists",
        `Transit key ${this.#describeKey()} does not exist, but ${wrappedMaterial.join(", ")} exist wrapped by a key of that name; a new key would not unwrap them: restore the original key (or fix OPENBAO_TRANSIT_MOUNT / OPENBAO_TRANSIT_KEY)`,
      );
    }
    const path = `${this.#config.transitMount}/keys/${this.#config.transitKey}`;
    const body = await this.#send("create the wrapping key", (client, token) =>
      client.write(path, { type: "aes256-gcm96", derived: true }, token),
      // Not repeated: a creation that landed would answer "already existed" to its retry.
      { retry: false },
    );
    // OpenBao answers creation with the key (older servers: 204 and no body; then read it back).
    const created = body === undefined || body === "" ? await this.#readTransitKey() : this.#parse(transitKeyAnswer, body, "create the wrapping key");
    if (created === undefined) throw this.#unfitKey("was not created", `creating Transit key ${this.#describeKey()} answered, but the key cannot be read back`);
    const facts = "data" in created ? created.data : created;
    const warnings = "warnings" in created ? created.warnings ?? [] : [];
    if (warnings.some((warning) => warning.includes("already existed"))) {
      throw this.#unfitKey("appeared while it was being created", `Transit key ${this.#describeKey()} already existed when init created it (another init ran at the same time?); run init again to check it`);
    }
    this.#requireFit(facts);
    this.#log.info({ backend: "openbao", transit_key: this.#describeKey() }, `created Transit key ${this.#describeKey()} (aes256-gcm96, derived)`);
    return "created";
  }

  /** The key's facts, or undefined when OpenBao says it does not exist. */
  async #readTransitKey(): Promise<TransitKeyFacts | undefined> {
    const path = `${this.#config.transitMount}/keys/${this.#config.transitKey}`;
    let body: unknown;
    try {
      body = await this.#request((client, token) => client.read(path, token));
    } catch (error) {
      const failure = classify(error);
      if (failure.kind === "not_found") return undefined;
      throw backendUnavailable("read the wrapping key", failure);
    }
    return this.#parse(transitKeyAnswer, body, "read the wrapping key").data;
  }

  #requireFit(key: TransitKeyFacts): void {
    const problem = transitKeyProblem(key);
    if (problem !== undefined) throw this.#unfitKey("is not fit for wrapping", `Transit key ${this.#describeKey()} ${problem}`);
  }

  #describeKey(): string {
    return `${this.#config.transitMount}/keys/${this.#config.transitKey}`;
  }

  #unfitKey(what: string, operatorMessage: string): CustosError {
    this.#log.error({ backend: "openbao", transit_key: this.#describeKey() }, operatorMessage);
    return new CustosError("secret_backend_unavailable", {
      detail: `the secret backend's wrapping key ${what}`,
      cause: new SecretBackendFailure("rejected", operatorMessage),
    });
  }

  close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#refreshTimer);
    this.#transport.destroy();
    return Promise.resolve();
  }

  async #checkReady(): Promise<void> {
    // Authenticated, unlike sys/health: it fails exactly when reads and writes would — an
    // expired or revoked token (403), a sealed node, a standby with no active node (503).
    const body = await this.#send("confirm its token", (client, token) => client.tokenLookupSelf({ requestOptions: token }));
    // Only the answer's shape is checked: re-deriving the renewal time from each probe's
    // remaining TTL would keep pushing it back. Renewal is due per the TTL at issue/renewal.
    this.#parse(lookupSelfAnswer, body, "confirm its token");
  }

  #kvPath(domain: string, name: string): string {
    // Validated first: nothing that is not a domain id or secret name reaches a URL.
    return `${this.#config.kvMount}/data/${this.#kvPrefix}/${parseDomainId(domain)}/${parseSecretName(name)}`;
  }

  // ---- the token ---------------------------------------------------------------------------

  /**
   * `issuedAt` is when the request that obtained the token was sent: its TTL counts from
   * then, however long the answer took to arrive and be read (on a loaded machine, long).
   */
  #heldFrom(token: string, ttlSeconds: number, renewable: boolean, issuedAt: number): HeldToken {
    if (ttlSeconds === 0) return { token, expiresAt: undefined, refreshAt: undefined, renewable };
    const now = issuedAt;
    const ttlMs = ttlSeconds * 1000;
    const canRefresh = renewable || this.#config.auth.method !== "token";
    return { token, expiresAt: now + ttlMs, refreshAt: canRefresh ? now + ttlMs * RENEW_AT_FRACTION : undefined, renewable };
  }

  /** The token to send now: authenticates first when there is none or it has (nearly) expired. */
  async #currentToken(): Promise<string> {
    let held = this.#held;
    if (held === undefined || this.#isExpiring(held)) held = await this.#refresh();
    // A refresh already in flight when this call began answers with what it obtained then,
    // which may itself be near its end by now: look again.
    if (this.#isExpiring(held)) held = await this.#refresh();
    if (held.refreshAt !== undefined && this.#now() >= held.refreshAt) {
      // Still valid: this call goes ahead with it while the renewal runs.
      this.#refresh().catch(() => undefined);
    }
    return held.token;
  }

  #isExpiring(held: HeldToken): boolean {
    return held.expiresAt !== undefined && this.#now() >= held.expiresAt - EXPIRY_MARGIN_MS;
  }

  #refresh(): Promise<HeldToken> {
    this.#refreshing ??= this.#obtainToken().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #obtainToken(): Promise<HeldToken> {
    const auth = this.#config.auth;
    const previous = this.#held;
    let next: HeldToken;
    if (previous !== undefined && previous.renewable && previous.expiresAt !== undefined && this.#now() < previous.expiresAt) {
      next = await this.#renew(previous, auth);
    } else if (auth.method === "token") {
      next = await this.#lookUpStaticToken(auth.token);
    } else {
      next = await this.#login(auth);
    }
    this.#held = next;
    this.#schedule(next);
    return next;
  }

  async #lookUpStaticToken(token: string): Promise<HeldToken> {
    const sentAt = this.#now();
    let body: unknown;
    try {
      body = await this.#call((client, attempt) => client.tokenLookupSelf({ requestOptions: { headers: { ...attempt.headers, "X-Vault-Token": token } } }));
    } catch (error) {
      const failure = classify(error);
      if (failure.kind === "permission_denied") {
        this.#log.error({ backend: "openbao", auth: "token" }, "OpenBao refused OPENBAO_TOKEN (expired or revoked): every secret call fails until it is replaced; use OPENBAO_AUTH=approle or kubernetes so Custos can log in again");
      }
      throw backendUnavailable("authenticate", failure);
    }
    const { data } = this.#parse(lookupSelfAnswer, body, "authenticate");
    if (data.ttl > 0 && !data.renewable) {
      this.#log.warn({ backend: "openbao", auth: "token", ttl_seconds: data.ttl }, `OPENBAO_TOKEN is not renewable and expires in ${String(data.ttl)} s; Custos cannot extend it`);
    }
    return this.#heldFrom(token, data.ttl, data.renewable, sentAt);
  }

  async #login(auth: Exclude<OpenBaoAuth, { method: "token" }>): Promise<HeldToken> {
    const sentAt = this.#now();
    let body: unknown;
    try {
      if (auth.method === "approle") {
        const secretId = "value" in auth.secretId ? auth.secretId.value : await readCredentialFile(auth.secretId.file, "OPENBAO_SECRET_ID_FILE");
        body = await this.#call((client, attempt) => client.approleLogin({ mount_point: auth.mount, role_id: auth.roleId, secret_id: secretId, requestOptions: attempt }));
      } else {
        const jwt = await readCredentialFile(auth.jwtFile, "OPENBAO_K8S_JWT_FILE");
        body = await this.#call((client, attempt) => client.kubernetesLogin({ mount_point: auth.mount, role: auth.role, jwt, requestOptions: attempt }));
      }
    } catch (error) {
      const classified = classify(error);
      // A refused login is 400 ("invalid role or secret ID") or 403: the credentials, not the call.
      const failure = classified.kind === "rejected" ? new SecretBackendFailure("permission_denied", classified.message, classified.status) : classified;
      this.#log.error({ backend: "openbao", auth: auth.method, cause: failure.message }, `OpenBao ${auth.method} login failed: ${failure.message}`);
      throw backendUnavailable("authenticate", failure);
    }
    const answer = this.#parse(authAnswer, body, "authenticate").auth;
    this.#log.info({ backend: "openbao", auth: auth.method, ttl_seconds: answer.lease_duration }, `logged in to OpenBao (${auth.method})`);
    return this.#heldFrom(answer.client_token, answer.lease_duration, answer.renewable, sentAt);
  }

  /** renew-self; a login method logs in again when renewal fails or the token nears its max TTL. */
  async #renew(previous: HeldToken, auth: OpenBaoAuth): Promise<HeldToken> {
    const sentAt = this.#now();
    let renewed: HeldToken | undefined;
    try {
      const body = await this.#call((client, attempt) => client.tokenRenewSelf({ requestOptions: { headers: { ...attempt.headers, "X-Vault-Token": previous.token } } }));
      const answer = this.#parse(authAnswer, body, "renew its token").auth;
      renewed = this.#heldFrom(previous.token, answer.lease_duration, answer.renewable, sentAt);
    } catch (error) {
      const failure = error instanceof CustosError && error.cause instanceof SecretBackendFailure ? error.cause : classify(error);
      this.#log.warn({ backend: "openbao", auth: auth.method, cause: failure.message }, `renewing the OpenBao token failed: ${failure.message}`);
      if (auth.method === "token") {
        // Keep the token until it expires: renewal is retried at the next call.
        return { ...previous, refreshAt: this.#now() + Math.max(EXPIRY_MARGIN_MS, ((previous.expiresAt ?? this.#now()) - this.#now()) / 3) };
      }
      return this.#login(auth);
    }
    const previousLeft = (previous.expiresAt ?? 0) - sentAt;
    // Capped by the max TTL: the renewal no longer extends the token.
    const capped = renewed.expiresAt !== undefined && renewed.expiresAt - sentAt <= previousLeft + EXPIRY_MARGIN_MS;
    if (!capped) return renewed;
    if (auth.method !== "token") return this.#login(auth);
    this.#log.error({ backend: "openbao", auth: "token" }, "OPENBAO_TOKEN has reached its max TTL and will expire; replace it, or use OPENBAO_AUTH=approle or kubernetes");
    return { ...renewed, refreshAt: undefined };
  }

  #schedule(held: HeldToken): void {
    clearTimeout(this.#refreshTimer);
    if (held.refreshAt === undefined || this.#closed) return;
    const delay = Math.max(0, held.refreshAt - this.#now());
    this.#refreshTimer = setTimeout(() => {
      if (this.#closed) return;
      this.#refresh().catch(() => undefined);
    }, Math.min(delay, 2 ** 31 - 1));
    // A pending renewal never keeps the process alive.
    this.#refreshTimer.unref();
  }

  // ---- calls -------------------------------------------------------------------------------

  /**
   * One call without the adapter's token (logins, or one that passes its own), retried as
   * #request is, inside one deadline. A login is safe to repeat: an attempt whose answer was
   * lost leaves an unused token that expires with its TTL.
   */
  async #call(call: (client: vault.client, attempt: TokenHeader) => Promise<unknown>): Promise<unknown> {
    const deadline = Date.now() + this.#timeoutMs;
    for (let attempt = 1; ; attempt += 1) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new SecretBackendFailure("timeout", `no answer within ${String(this.#timeoutMs)} ms`);
      const attemptId = randomUUID();
      try {
        return await withDeadline(call(this.#client, { headers: { [ATTEMPT_HEADER]: attemptId } }), remaining);
      } catch (thrown) {
        const { failure, error } = this.#attemptFailure(thrown, attemptId);
        await waitBeforeRetry(failure, error, attempt, deadline);
      } finally {
        this.#retryAfter.delete(attemptId);
        // node-vault keeps a login's or renewal's token on the client and would send it with
        // every later request that names none (a login among them); Custos sends its own per call.
        this.#client.token = "";
      }
    }
  }

  /** The attempt's failure with its Retry-After, and what to throw if it is not retried. */
  #attemptFailure(thrown: unknown, attemptId: string): { failure: SecretBackendFailure; error: unknown } {
    const retryAfter = this.#retryAfter.get(attemptId);
    if (retryAfter === undefined) return { failure: classify(thrown), error: thrown };
    const failure = withRetryAfter(classify(thrown), retryAfter);
    return { failure, error: failure };
  }

  /**
   * One authenticated call, retried, all inside one deadline (timeoutMs); rejects with the
   * last failure (classified by the caller). Retried, with full-jitter exponential backoff:
   * 429 (waiting at least its Retry-After), 500, 502, 504, a 503 that is not "sealed", and
   * socket errors; never a timeout (it used the deadline), a 4xx, or a sealed node. A call
   * that is not safe to repeat passes `retry: false`. A login method whose token was refused
   * (revoked, expired early) logs in again once.
   */
  async #request(call: (client: vault.client, token: TokenHeader) => Promise<unknown>, options: { readonly retry?: boolean } = {}): Promise<unknown> {
    const deadline = Date.now() + this.#timeoutMs;
    let loggedInAgain = false;
    for (let attempt = 1; ; attempt += 1) {
      const token = await this.#currentToken();
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new SecretBackendFailure("timeout", `no answer within ${String(this.#timeoutMs)} ms`);
      const attemptId = randomUUID();
      try {
        return await withDeadline(call(this.#client, { headers: { "X-Vault-Token": token, [ATTEMPT_HEADER]: attemptId } }), remaining);
      } catch (thrown) {
        const { failure, error } = this.#attemptFailure(thrown, attemptId);
        if (failure.kind === "permission_denied" && this.#config.auth.method !== "token" && !loggedInAgain) {
          loggedInAgain = true;
          if (this.#held?.token === token) this.#held = undefined;
          continue;
        }
        if (options.retry === false) throw error;
        await waitBeforeRetry(failure, error, attempt, deadline);
      } finally {
        this.#retryAfter.delete(attemptId);
      }
    }
  }

  /** One authenticated call whose every failure is `secret_backend_unavailable`. */
  async #send(operation: string, call: (client: vault.client, token: TokenHeader) => Promise<unknown>, options: { readonly retry?: boolean } = {}): Promise<unknown> {
    try {
      return await this.#request(call, options);
    } catch (error) {
      if (error instanceof CustosError) throw error;
      throw backendUnavailable(operation, classify(error));
    }
  }

  #parse<T>(schema: z.ZodType<T>, body: unknown, operation: string): T {
    try {
      return parseAnswer(schema, body, operation);
    } catch (error) {
      throw backendUnavailable(operation, classify(error));
    }
  }
}

/** The OpenBao adapter for `config.openbao`; see OpenBaoSecretBackend for the operator setup. */
export function createOpenBaoBackend(config: OpenBaoConfig, options: OpenBaoBackendOptions = {}): OpenBaoSecretBackend {
  return new OpenBaoSecretBackend(config, options);
}
