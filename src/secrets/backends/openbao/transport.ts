import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import { ConfigError, type OpenBaoTls } from "../../../platform/config.ts";

/**
 * The HTTP transport under node-vault. node-vault (the project's client) builds the paths and
 * reads the answers; it sends requests through axios, which cannot be made safe for three
 * concerns, and node-vault passes no option that would (docs/openbao.md, "Why node-vault runs
 * on Custos's own transport"):
 *
 * - axios follows a standby's 307 to wherever its Location points, with every header: its
 *   redirect library drops Authorization and Cookie on a cross-host redirect, not X-Vault-Token,
 *   so the token would go to an http:// address in clear. Here a redirect is followed only to
 *   https, or to the configured origin itself.
 * - axios reads HTTP_PROXY / HTTPS_PROXY from the environment: a proxy set for other traffic
 *   would see every token and value. Here no proxy is ever used.
 * - node-vault drops response headers, so Retry-After would be lost: here it is noted per attempt.
 *
 * node-vault takes the transport through its `request-promise` option: `defaults(options)`
 * returns the function it calls for every request.
 */

/** What node-vault passes per request (its request-promise calling convention). */
interface VaultRequest {
  readonly method: string;
  readonly uri: string;
  readonly headers?: Record<string, string>;
  readonly json?: unknown;
  readonly timeout?: number;
}

/** What node-vault expects back: it rejects non-2xx with ApiResponseError(statusCode, body). */
interface VaultResponse {
  readonly statusCode: number;
  readonly body: unknown;
  readonly request: { readonly path: string };
}

export interface TransportOptions {
  readonly addr: string;
  readonly tls: OpenBaoTls | undefined;
  /** Request header naming the attempt, so Retry-After can be matched to it; never sent. */
  readonly attemptHeader: string;
  readonly onRetryAfter: (attempt: string, value: string) => void;
  readonly onRefusedRedirect: (to: string) => void;
}

export interface OpenBaoTransport {
  /** For node-vault's `request-promise` option. */
  readonly requestPromise: { defaults(options: unknown): (request: VaultRequest) => Promise<VaultResponse> };
  /** Drops the keep-alive sockets. */
  destroy(): void;
}

const MAX_REDIRECTS = 3;
const REDIRECTS = new Set([307, 308]);

function readPem(file: string, variable: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "error";
    throw new ConfigError(variable, `cannot be read (${file}): ${code}`);
  }
}

/** The TLS material from the files, each checked now so a bad one stops start-up naming its setting. */
export function loadTlsOptions(settings: OpenBaoTls | undefined): https.AgentOptions {
  if (settings === undefined) return {};
  const options: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  if (settings.caCertFile !== undefined) {
    options.ca = readPem(settings.caCertFile, "OPENBAO_CACERT");
    try {
      // A file holding no certificate would leave nothing trusted, and fail every call obscurely.
      new X509Certificate(options.ca);
      tls.createSecureContext({ ca: options.ca });
    } catch {
      throw new ConfigError("OPENBAO_CACERT", `(${settings.caCertFile}) does not hold a PEM certificate`);
    }
  }
  if (settings.clientCertFile !== undefined && settings.clientKeyFile !== undefined) {
    options.cert = readPem(settings.clientCertFile, "OPENBAO_CLIENT_CERT");
    options.key = readPem(settings.clientKeyFile, "OPENBAO_CLIENT_KEY");
    try {
      tls.createSecureContext({ cert: options.cert, key: options.key });
    } catch {
      // The library's message may quote PEM fragments; only the settings are named.
      throw new ConfigError("OPENBAO_CLIENT_KEY", "and OPENBAO_CLIENT_CERT are not a PEM certificate and its private key");
    }
  }
  return options;
}

function parseBody(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  const text = raw.toString("utf8");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Not JSON (a proxy's error page): the adapter's shape checks refuse it.
    return text;
  }
}

/** Whether a redirect may carry the token: to https, or back to the configured origin (http on a dev server). */
export function mayFollowRedirect(target: URL, configured: URL): boolean {
  return target.protocol === "https:" || target.origin === configured.origin;
}

export function createOpenBaoTransport(options: TransportOptions): OpenBaoTransport {
  const configured = new URL(options.addr);
  const tlsOptions = loadTlsOptions(options.tls);
  // Own agents: close() drops their keep-alive sockets, and no global agent's settings apply.
  const httpAgent = new http.Agent({ keepAlive: true });
  const httpsAgent = new https.Agent({ keepAlive: true, rejectUnauthorized: true, ...tlsOptions });

  function once(url: URL, request: VaultRequest, headers: Record<string, string>, payload: string | undefined): Promise<{ status: number; body: unknown; location: string | undefined }> {
    return new Promise((resolve, reject) => {
      const secure = url.protocol === "https:";
      const common: http.RequestOptions = {
        method: request.method,
        headers: payload === undefined ? headers : { ...headers, "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(payload)) },
      };
      // The server name applies to the configured host only: a standby may redirect to another.
      const serverName = secure && url.host === configured.host ? options.tls?.serverName : undefined;
      const req = secure
        ? https.request(url, { ...common, agent: httpsAgent, ...(serverName === undefined ? {} : { servername: serverName }) })
        : http.request(url, { ...common, agent: httpAgent });
      if (request.timeout !== undefined) {
        req.setTimeout(request.timeout, () => {
          req.destroy(Object.assign(new Error("the request timed out"), { code: "ETIMEDOUT" }));
        });
      }
      req.on("error", reject);
      req.on("response", (response) => {
        const attempt = request.headers?.[options.attemptHeader];
        const retryAfter = response.headers["retry-after"];
        if (attempt !== undefined && typeof retryAfter === "string") options.onRetryAfter(attempt, retryAfter);
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          resolve({ status: response.statusCode ?? 0, body: parseBody(Buffer.concat(chunks)), location: response.headers.location });
        });
      });
      req.end(payload);
    });
  }

  async function send(request: VaultRequest): Promise<VaultResponse> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      if (name !== options.attemptHeader) headers[name] = value;
    }
    const payload = request.json === undefined ? undefined : JSON.stringify(request.json);
    let url = new URL(request.uri);
    for (let hop = 0; ; hop += 1) {
      const answer = await once(url, request, headers, payload);
      if (!REDIRECTS.has(answer.status) || answer.location === undefined || hop >= MAX_REDIRECTS) {
        return { statusCode: answer.status, body: answer.body, request: { path: url.pathname } };
      }
      const target = new URL(answer.location, url);
      if (!mayFollowRedirect(target, configured)) {
        options.onRefusedRedirect(target.origin);
        return {
          statusCode: answer.status,
          body: { errors: [`redirected to ${target.origin}, not followed: the token is never sent over plain HTTP to another address`] },
          request: { path: url.pathname },
        };
      }
      url = target;
    }
  }

  return {
    requestPromise: { defaults: () => send },
    destroy: () => {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
