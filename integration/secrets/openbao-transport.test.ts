import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ConfigError, loadConfig, type OpenBaoConfig } from "../../src/platform/config.ts";
import { createOpenBaoBackend, type BackendLog, type OpenBaoSecretBackend } from "../../src/secrets/backends/openbao-backend.ts";
import { startOpenBaoDouble, type OpenBaoDouble, type OpenBaoDoubleOptions } from "./openbao-double.ts";
import { makeTlsFixtures, opensslAvailable, type TlsFixtures } from "./openbao-tls-fixtures.ts";
import { rejection } from "./openbao-fixtures.ts";

/**
 * Issue "OpenBao in production", item 5: TLS settings, namespaces, redirects and proxies.
 * The double serves TLS with a throwaway CA (openssl CLI); a plain HTTP "recorder" stands for
 * a host that must never see the token (a proxy, or the target of a standby's redirect).
 */

const HAS_OPENSSL = opensslAvailable();
let certs: TlsFixtures | undefined;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(() => {
  if (HAS_OPENSSL) certs = makeTlsFixtures({ dns: ["bao.internal"], ip: ["127.0.0.1"] });
});

afterAll(() => {
  certs?.remove();
});

afterEach(async () => {
  vi.unstubAllEnvs();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tlsFixtures(): TlsFixtures {
  if (certs === undefined) throw new Error("openssl is not available");
  return certs;
}

async function double(options: OpenBaoDoubleOptions = {}): Promise<OpenBaoDouble> {
  const started = await startOpenBaoDouble(options);
  started.createTransitKey("custos", { derived: true });
  cleanups.push(() => started.stop());
  return started;
}

async function tlsDouble(options: Omit<OpenBaoDoubleOptions, "tls"> & { readonly clientCa?: boolean } = {}): Promise<OpenBaoDouble> {
  const { readFileSync } = await import("node:fs");
  const fixtures = tlsFixtures();
  return double({
    ...options,
    tls: {
      key: readFileSync(fixtures.serverKeyFile),
      cert: readFileSync(fixtures.serverCertFile),
      ...(options.clientCa === true ? { clientCa: readFileSync(fixtures.caFile) } : {}),
    },
  });
}

interface Recorder {
  readonly addr: string;
  readonly seen: http.IncomingHttpHeaders[];
}

/** A plain HTTP listener that records every request (CONNECT included) and answers 502. */
async function recorder(): Promise<Recorder> {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(502).end();
  });
  server.on("connect", (req: http.IncomingMessage, socket: import("node:net").Socket) => {
    seen.push(req.headers);
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  );
  return { addr: `http://localhost:${String((server.address() as AddressInfo).port)}`, seen };
}

function config(bao: OpenBaoDouble, overrides: Partial<OpenBaoConfig> = {}): OpenBaoConfig {
  return { addr: bao.addr, auth: { method: "token", token: bao.token }, kvMount: "secret", transitMount: "transit", transitKey: "custos", timeoutMs: 1_500, ...overrides };
}

function backend(openbao: OpenBaoConfig, log?: BackendLog): OpenBaoSecretBackend {
  const made = createOpenBaoBackend(openbao, log === undefined ? {} : { log });
  cleanups.push(() => made.close());
  return made;
}

async function roundTrip(bao: OpenBaoSecretBackend): Promise<void> {
  await bao.start();
  const wrapped = await bao.wrap(Buffer.from("key"), "ctx");
  expect((await bao.unwrap(wrapped, "ctx")).toString()).toBe("key");
}

function capturingLog(): BackendLog & { readonly lines: string[] } {
  const lines: string[] = [];
  const note = (_fields: object, message: string): void => {
    lines.push(message);
  };
  return { lines, info: note, warn: note, error: note };
}

describe.skipIf(!HAS_OPENSSL)("TLS settings (a double serving https with a throwaway CA)", () => {
  it("OPENBAO_CACERT makes the double trusted; without it the connection is refused", async () => {
    const bao = await tlsDouble();
    const untrusted = await rejection(backend(config(bao)).start());
    expect(untrusted.cause).toMatchObject({ kind: "unreachable" });
    await roundTrip(backend(config(bao, { tls: { caCertFile: tlsFixtures().caFile } })));
  });

  it("OPENBAO_TLS_SERVER_NAME is the name the certificate is checked against", async () => {
    const bao = await tlsDouble();
    await roundTrip(backend(config(bao, { tls: { caCertFile: tlsFixtures().caFile, serverName: "bao.internal" } })));
    const wrongName = await rejection(backend(config(bao, { tls: { caCertFile: tlsFixtures().caFile, serverName: "other.internal" } })).start());
    expect(wrongName.cause).toMatchObject({ kind: "unreachable" });
  });

  it("a double requiring client certificates accepts the configured one, and refuses none or a stranger's", async () => {
    const bao = await tlsDouble({ clientCa: true });
    const { caFile, clientCertFile, clientKeyFile, strangerCertFile, strangerKeyFile } = tlsFixtures();
    await roundTrip(backend(config(bao, { tls: { caCertFile: caFile, clientCertFile, clientKeyFile } })));
    await rejection(backend(config(bao, { tls: { caCertFile: caFile } })).start());
    await rejection(backend(config(bao, { tls: { caCertFile: caFile, clientCertFile: strangerCertFile, clientKeyFile: strangerKeyFile } })).start());
  });

  it("a standby's redirect to another https address is followed, with the token", async () => {
    const active = await tlsDouble();
    const standby = await tlsDouble({ token: active.token });
    standby.redirectTo(active.addr);
    await roundTrip(backend(config(standby, { tls: { caCertFile: tlsFixtures().caFile } })));
    expect(active.requests).toContain("POST /v1/transit/encrypt/custos");
  });
});

describe("invalid TLS settings stop start-up naming the setting", () => {
  const base = { NODE_ENV: "test", OPENBAO_ADDR: "https://bao.internal:8200", OPENBAO_TOKEN: "s.x" };

  it("a client certificate without its key, or a key without its certificate", () => {
    expect(() => loadConfig({ ...base, OPENBAO_CLIENT_CERT: "/etc/custos/client.pem" })).toThrow(expect.objectContaining({ variable: "OPENBAO_CLIENT_KEY" }) as Error);
    expect(() => loadConfig({ ...base, OPENBAO_CLIENT_KEY: "/etc/custos/client.key" })).toThrow(expect.objectContaining({ variable: "OPENBAO_CLIENT_CERT" }) as Error);
  });

  it("a TLS setting with an http:// address", () => {
    expect(() => loadConfig({ ...base, OPENBAO_ADDR: "http://bao.internal:8200", OPENBAO_CACERT: "/etc/custos/ca.pem" })).toThrow(expect.objectContaining({ variable: "OPENBAO_CACERT" }) as Error);
  });

  it("an unreadable CA file, or one that holds no certificate", () => {
    const openbao = loadConfig({ ...base, OPENBAO_CACERT: "/nonexistent/ca.pem" }).openbao;
    if (openbao === undefined) throw new Error("no openbao config");
    const unreadable = (() => {
      try {
        createOpenBaoBackend(openbao);
        return undefined;
      } catch (error) {
        return error;
      }
    })();
    expect(unreadable).toBeInstanceOf(ConfigError);
    expect((unreadable as ConfigError).variable).toBe("OPENBAO_CACERT");
    expect(() => createOpenBaoBackend({ ...openbao, tls: { caCertFile: path.resolve("package.json") } })).toThrow(expect.objectContaining({ variable: "OPENBAO_CACERT" }) as Error);
  });

  it("the settings parse: namespace, server name, files, KV prefix", () => {
    const openbao = loadConfig({
      ...base,
      OPENBAO_CACERT: "/etc/custos/ca.pem",
      OPENBAO_CLIENT_CERT: "/etc/custos/client.pem",
      OPENBAO_CLIENT_KEY: "/etc/custos/client.key",
      OPENBAO_TLS_SERVER_NAME: "bao.internal",
      OPENBAO_NAMESPACE: "team-a/prod",
      OPENBAO_KV_PREFIX: "apps/custos",
    }).openbao;
    expect(openbao).toMatchObject({
      namespace: "team-a/prod",
      kvPrefix: "apps/custos",
      tls: { caCertFile: "/etc/custos/ca.pem", clientCertFile: "/etc/custos/client.pem", clientKeyFile: "/etc/custos/client.key", serverName: "bao.internal" },
    });
    expect(loadConfig(base).openbao?.kvPrefix).toBe("custos");
    expect(() => loadConfig({ ...base, OPENBAO_NAMESPACE: "../root" })).toThrow(ConfigError);
  });
});

describe("namespace", () => {
  it("X-Vault-Namespace arrives on every request, the AppRole login included", async () => {
    const bao = await double({ namespace: "team-a" });
    bao.addAppRole({ roleId: "custos-role", secretId: "sid", ttlSeconds: 3600 });
    const adapter = backend(config(bao, { namespace: "team-a", auth: { method: "approle", mount: "approle", roleId: "custos-role", secretId: { value: "sid" } } }));
    await roundTrip(adapter);
    expect(bao.received.map((entry) => entry.request)).toContain("POST /v1/auth/approle/login");
    expect(bao.received.every((entry) => entry.headers["x-vault-namespace"] === "team-a")).toBe(true);
    // The adapter's per-attempt marker stays inside the process.
    expect(bao.received.some((entry) => "x-custos-attempt" in entry.headers)).toBe(false);
  });

  it("without it, a namespaced login finds no route", async () => {
    const bao = await double({ namespace: "team-a" });
    bao.addAppRole({ roleId: "custos-role", secretId: "sid", ttlSeconds: 3600 });
    await rejection(backend(config(bao, { auth: { method: "approle", mount: "approle", roleId: "custos-role", secretId: { value: "sid" } } })).start());
  });
});

describe("redirects and proxies never carry the token elsewhere", () => {
  it("a standby's redirect to http:// on another address is not followed: the token never reaches it, and the log says why", async () => {
    const target = await recorder();
    const standby = await double();
    const log = capturingLog();
    const adapter = backend(config(standby), log);
    await adapter.start();
    standby.redirectTo(target.addr);
    const refused = await rejection(adapter.wrap(Buffer.from("key"), "ctx"));
    expect(refused.code).toBe("secret_backend_unavailable");
    expect(target.seen).toEqual([]);
    expect(log.lines.some((line) => line.includes(`redirected a request to ${target.addr}`))).toBe(true);
  });

  it("HTTP_PROXY and HTTPS_PROXY from the environment are not used", async () => {
    const proxy = await recorder();
    vi.stubEnv("HTTP_PROXY", proxy.addr);
    vi.stubEnv("HTTPS_PROXY", proxy.addr);
    vi.stubEnv("http_proxy", proxy.addr);
    vi.stubEnv("https_proxy", proxy.addr);
    vi.stubEnv("NO_PROXY", "");
    vi.stubEnv("no_proxy", "");
    const bao = await double();
    await roundTrip(backend(config(bao)));
    expect(proxy.seen).toEqual([]);
  });
});

describe("OPENBAO_KV_PREFIX", () => {
  it("values live under the configured prefix", async () => {
    const bao = await double();
    const adapter = backend(config(bao, { kvPrefix: "apps/custos" }));
    await adapter.start();
    await adapter.writeSecret("acme", "db-password", Buffer.from("v1"));
    expect(bao.kvVersions("apps/custos/acme/db-password")).toBe(1);
    expect(bao.kvVersions("custos/acme/db-password")).toBe(0);
    expect((await adapter.readSecret("acme", "db-password"))?.value.toString()).toBe("v1");
  });
});
