import http from "node:http";
import https from "node:https";
import vault from "node-vault";
import { z } from "zod";
import type { OpenBaoConfig } from "../../platform/config.ts";
import { CustosError } from "../../platform/errors.ts";
import { parseDomainId, parseSecretName } from "../../platform/names.ts";
import type { ReadinessProbe } from "../../platform/readiness.ts";
import { backendUnavailable, SecretBackendFailure, unwrapRejected } from "../backend-errors.ts";
import type { SecretBackend, StoredSecret, WrittenSecret } from "../secret-backend.ts";

/**
 * The production secret backend: OpenBao (or Vault) over its HTTP API, through node-vault.
 *
 * - Values live in KV v2 at `<kvMount>/data/custos/<domain>/<name>`, as `{ value: <base64> }`
 *   so that binary values survive JSON. KV v2 keeps the versions; Custos owns `custos/`.
 * - Key wrapping uses Transit `<transitMount>/encrypt|decrypt/<transitKey>` with the wrapping
 *   context as the key-derivation `context`, so a ciphertext only unwraps for its own purpose.
 *   That binding holds only for a *derived* key: a non-derived key ignores the context.
 *
 * Operator setup (once; `ensureTransitKey()` also creates the key when the token may):
 *
 *     bao secrets enable -path=secret kv-v2        # usually present already
 *     bao secrets enable transit
 *     bao write transit/keys/custos type=aes256-gcm96 derived=true
 *
 * and a token whose policy allows: create/update/read on `secret/data/custos/*`, update on
 * `transit/encrypt/custos` and `transit/decrypt/custos`, read (and create, for
 * `ensureTransitKey`) on `transit/keys/custos`. `sys/health` needs no token.
 */

export const DEFAULT_OPENBAO_TIMEOUT_MS = 2_000;

export interface OpenBaoBackendOptions {
  /** Upper bound on one backend call; a hung OpenBao fails closed after this long. */
  readonly timeoutMs?: number;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const base64 = z.string().regex(BASE64);
const TRANSIT_CIPHERTEXT = /^vault:v\d+:[A-Za-z0-9+/]+={0,2}$/;

// Only the members Custos relies on; OpenBao's answers carry more (request_id, lease_id, …).
const kvReadAnswer = z.object({
  data: z.object({
    data: z.object({ value: base64 }),
    metadata: z.object({ version: z.number().int().positive() }),
  }),
});
const kvWriteAnswer = z.object({ data: z.object({ version: z.number().int().positive() }) });
const encryptAnswer = z.object({ data: z.object({ ciphertext: z.string().regex(TRANSIT_CIPHERTEXT) }) });
const decryptAnswer = z.object({ data: z.object({ plaintext: base64 }) });
const transitKeyAnswer = z.object({ data: z.object({ derived: z.boolean() }) });
const healthAnswer = z.object({ initialized: z.boolean(), sealed: z.boolean() });

/** The error shape node-vault rejects with for a non-2xx answer (ApiResponseError). */
const apiResponseError = z.object({
  response: z.object({
    statusCode: z.number(),
    body: z.unknown(),
  }),
});
const errorsBody = z.object({ errors: z.array(z.unknown()) });

function backendErrors(body: unknown): string[] | undefined {
  const parsed = errorsBody.safeParse(body);
  if (!parsed.success) return undefined;
  return parsed.data.errors.filter((entry): entry is string => typeof entry === "string");
}

function classifyStatus(status: number, body: unknown): SecretBackendFailure {
  const errors = backendErrors(body);
  const said = errors?.[0] ?? `status ${status}`;
  // KV v2 answers a missing secret (or a deleted latest version) with 404 and no error text;
  // a 404 *with* text is "no handler for route": a wrong mount, which is a misconfiguration.
  if (status === 404 && (errors === undefined || errors.length === 0)) {
    return new SecretBackendFailure("not_found", "not found", status);
  }
  if (status === 503) return new SecretBackendFailure("sealed", said, status);
  if (status === 403) return new SecretBackendFailure("permission_denied", said, status);
  return new SecretBackendFailure("rejected", said, status);
}

/** Turns whatever node-vault or axios threw into a SecretBackendFailure holding safe facts only. */
function classify(error: unknown): SecretBackendFailure {
  if (error instanceof SecretBackendFailure) return error;
  const answered = apiResponseError.safeParse(error);
  if (answered.success) return classifyStatus(answered.data.response.statusCode, answered.data.response.body);
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
  if (code === "ECONNABORTED" || code === "ETIMEDOUT") {
    return new SecretBackendFailure("timeout", "the request timed out");
  }
  // Only the error code: axios's message may quote the URL, its config the token and body.
  return new SecretBackendFailure("unreachable", code === "" ? "the request failed" : `the request failed (${code})`);
}

function withDeadline<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new SecretBackendFailure("timeout", `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  return Promise.race([work, deadline]).finally(() => {
    clearTimeout(timer);
  });
}

function parseAnswer<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new SecretBackendFailure("malformed_answer", `unexpected answer shape from ${what}`);
  return parsed.data;
}

function toBase64(bytes: Uint8Array | string): string {
  return (typeof bytes === "string" ? Buffer.from(bytes, "utf8") : Buffer.from(bytes)).toString("base64");
}

export class OpenBaoSecretBackend implements SecretBackend {
  readonly readiness: ReadinessProbe;
  readonly #config: OpenBaoConfig;
  readonly #timeoutMs: number;
  readonly #httpAgent: http.Agent;
  readonly #httpsAgent: https.Agent;
  readonly #client: vault.client;

  constructor(config: OpenBaoConfig, options: OpenBaoBackendOptions = {}) {
    this.#config = config;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_OPENBAO_TIMEOUT_MS;
    // Own agents, so close() can drop the keep-alive sockets (the global agent keeps them).
    this.#httpAgent = new http.Agent({ keepAlive: true });
    this.#httpsAgent = new https.Agent({ keepAlive: true });
    // `rpDefaults` is read by node-vault (src/index.js) but missing from its type definitions.
    const clientOptions: vault.VaultOptions & { readonly rpDefaults: { readonly strictSSL: boolean } } = {
      endpoint: config.addr,
      token: config.token,
      // node-vault's debug() prints request bodies (plaintexts, values); never enable it.
      debug: () => undefined,
      // node-vault turns TLS verification off when VAULT_SKIP_VERIFY is set; Custos does not.
      rpDefaults: { strictSSL: true },
      requestOptions: { timeout: this.#timeoutMs, httpAgent: this.#httpAgent, httpsAgent: this.#httpsAgent },
    };
    this.#client = vault(clientOptions);
    // node-vault also reads VAULT_PREFIX and VAULT_NAMESPACE from the environment; Custos's
    // configuration is OPENBAO_* only, so a stray variable must not reroute requests.
    Object.assign(this.#client, { pathPrefix: "", namespace: undefined });
    this.readiness = { name: "secret_backend", check: () => this.#checkReady() };
  }

  async writeSecret(domain: string, name: string, value: Buffer): Promise<WrittenSecret> {
    const path = this.#kvPath(domain, name);
    const body = await this.#send("store the secret", (client) =>
      client.write(path, { data: { value: value.toString("base64") } }),
    );
    return { version: this.#parse(kvWriteAnswer, body, "store the secret").data.version };
  }

  async readSecret(domain: string, name: string): Promise<StoredSecret | undefined> {
    const path = this.#kvPath(domain, name);
    let body: unknown;
    try {
      body = await this.#request((client) => client.read(path));
    } catch (error) {
      const failure = classify(error);
      if (failure.kind === "not_found") return undefined;
      throw backendUnavailable("read the secret", failure);
    }
    const { data } = this.#parse(kvReadAnswer, body, "read the secret");
    return { value: Buffer.from(data.data.value, "base64"), version: data.metadata.version };
  }

  async wrap(plaintext: Uint8Array, context: string): Promise<string> {
    const path = `${this.#config.transitMount}/encrypt/${this.#config.transitKey}`;
    const body = await this.#send("wrap key material", (client) =>
      client.write(path, { plaintext: toBase64(plaintext), context: toBase64(context) }),
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
      body = await this.#request((client) => client.write(path, { ciphertext: wrapped, context: toBase64(context) }));
    } catch (error) {
      const failure = classify(error);
      // 400 is Transit refusing this ciphertext under this context (authentication failed,
      // bad version, bad encoding): the ciphertext is at fault, not the backend.
      if (failure.kind === "rejected" && failure.status === 400) throw unwrapRejected(failure);
      throw backendUnavailable("unwrap key material", failure);
    }
    return Buffer.from(this.#parse(decryptAnswer, body, "unwrap key material").data.plaintext, "base64");
  }

  /**
   * Makes sure the Transit key exists and is derived, creating it (derived) when missing.
   * Call once at start-up: a non-derived key would ignore the wrapping context, so a
   * ciphertext copied to another row would unwrap there. Throws secret_backend_unavailable.
   */
  async ensureTransitKey(): Promise<void> {
    const path = `${this.#config.transitMount}/keys/${this.#config.transitKey}`;
    let body: unknown;
    try {
      body = await this.#request((client) => client.read(path));
    } catch (error) {
      const failure = classify(error);
      if (failure.kind !== "not_found") throw backendUnavailable("read the wrapping key", failure);
      await this.#send("create the wrapping key", (client) =>
        client.write(path, { type: "aes256-gcm96", derived: true }),
      );
      return;
    }
    if (!this.#parse(transitKeyAnswer, body, "read the wrapping key").data.derived) {
      throw new CustosError("secret_backend_unavailable", {
        detail: "the secret backend's wrapping key is not set up for per-context derivation",
        cause: new SecretBackendFailure(
          "rejected",
          `Transit key ${this.#config.transitKey} was created with derived=false; create it with derived=true`,
        ),
      });
    }
  }

  close(): Promise<void> {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
    return Promise.resolve();
  }

  async #checkReady(): Promise<void> {
    // sys/health needs no token; standbyok because a standby forwards requests to the active node.
    const body = await this.#send("answer its health check", (client) => client.health({ standbyok: true }));
    const health = this.#parse(healthAnswer, body, "answer its health check");
    if (!health.initialized || health.sealed) {
      throw backendUnavailable("serve: it is sealed or not initialised", new SecretBackendFailure("sealed", "sealed or not initialised"));
    }
  }

  #kvPath(domain: string, name: string): string {
    // Validated first: nothing that is not a domain id or secret name reaches a URL.
    return `${this.#config.kvMount}/data/custos/${parseDomainId(domain)}/${parseSecretName(name)}`;
  }

  /** One call, bounded in time; rejects with whatever failed (classified by the caller). */
  #request(call: (client: vault.client) => Promise<unknown>): Promise<unknown> {
    return withDeadline(call(this.#client), this.#timeoutMs);
  }

  /** One call whose every failure is `secret_backend_unavailable`. */
  async #send(operation: string, call: (client: vault.client) => Promise<unknown>): Promise<unknown> {
    try {
      return await this.#request(call);
    } catch (error) {
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
