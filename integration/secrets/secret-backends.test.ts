import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { inspect } from "node:util";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ConfigError, loadConfig, type OpenBaoConfig } from "../../src/platform/config.ts";
import { CustosError } from "../../src/platform/errors.ts";
import { checkReadiness } from "../../src/platform/readiness.ts";
import { openLocalBackend } from "../../src/secrets/backends/local-backend.ts";
import { createOpenBaoBackend, type OpenBaoSecretBackend } from "../../src/secrets/backends/openbao-backend.ts";
import { openSecretBackend } from "../../src/secrets/open-secret-backend.ts";
import type { SecretBackend } from "../../src/secrets/secret-backend.ts";
import { startOpenBaoDouble, type OpenBaoDouble } from "./openbao-double.ts";
import { documentedPolicies } from "./openbao-double-policy.ts";
import { describeSecretBackendContract } from "./secret-backend.contract.ts";
import { rejection } from "./openbao-fixtures.ts";

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), "custos-secrets-"));
}

function baoConfig(addr: string, token: string, overrides: Partial<OpenBaoConfig> = {}): OpenBaoConfig {
  return { addr, auth: { method: "token", token }, kvMount: "secret", transitMount: "transit", transitKey: "custos", timeoutMs: 2_000, ...overrides };
}

/** Resolves to the rejection (or fails the test if the promise resolved). */
/** A port nothing listens on: bound once by us, then released. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  return port;
}

// ---- the contract, three ways ------------------------------------------------------------

describeSecretBackendContract("local backend (temp dir)", async () => {
  const dataDir = await tempDir();
  const backend = await openLocalBackend({ dataDir, nodeEnv: "test" });
  return {
    backend,
    dispose: async () => {
      await backend.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
});

describeSecretBackendContract("OpenBao adapter against the OpenBao double, under the documented least-privilege policy", async () => {
  const double = await startOpenBaoDouble();
  double.createTransitKey("custos", { derived: true });
  // The service's policy from docs/openbao.md alone (OpenBao's default policy detached).
  const token = double.issueToken({ ttlSeconds: 3600, renewable: true, policy: documentedPolicies().service, noDefaultPolicy: true });
  const backend = await openSecretBackend({ nodeEnv: "test", dataDir: os.tmpdir(), logLevel: "silent", openbao: baoConfig(double.addr, token) });
  return {
    backend,
    dispose: async () => {
      await backend.close();
      await double.stop();
    },
  };
});

const realAddr = process.env.OPENBAO_ADDR ?? "";
const realToken = process.env.OPENBAO_TOKEN ?? "";
// Without a real OpenBao the contract shows as skipped, never as a passing test.
describe.skipIf(realAddr === "" || realToken === "")("against a real OpenBao (set OPENBAO_ADDR and OPENBAO_TOKEN to run)", () => {
  describeSecretBackendContract(`OpenBao adapter against a real OpenBao at ${realAddr || "OPENBAO_ADDR"}`, async () => {
    // Every OPENBAO_* setting as the server reads it (mounts, prefix, namespace, TLS, auth).
    const openbao = loadConfig({ ...process.env, NODE_ENV: "test" }).openbao ?? baoConfig(realAddr, realToken);
    const backend = await openSecretBackend({ nodeEnv: "test", dataDir: os.tmpdir(), logLevel: "silent", openbao });
    return { backend, dispose: () => backend.close() };
  });
});

// ---- OpenBao adapter: failures map to secret_backend_unavailable -------------------------

describe("OpenBao adapter failures, against the double", () => {
  let double: OpenBaoDouble;
  let backend: OpenBaoSecretBackend;
  const domain = "acme";
  const name = "db.password";
  let wrapped: string;

  beforeEach(async () => {
    double = await startOpenBaoDouble();
    backend = createOpenBaoBackend(baoConfig(double.addr, double.token), { timeoutMs: 300 });
    await backend.initTransitKey([]);
    await backend.writeSecret(domain, name, Buffer.from("hunter2"));
    wrapped = await backend.wrap(Buffer.from("key material"), "ctx");
  });

  afterEach(async () => {
    await backend.close();
    await double.stop();
  });

  it("sealed: every operation is secret_backend_unavailable and readiness is unavailable", async () => {
    double.seal();
    for (const call of [
      () => backend.readSecret(domain, name),
      () => backend.readSecret(domain, "never-written"),
      () => backend.writeSecret(domain, name, Buffer.from("x")),
      () => backend.wrap(Buffer.from("x"), "ctx"),
      () => backend.unwrap(wrapped, "ctx"),
      () => backend.readiness.check(),
    ]) {
      expect((await rejection(call())).code).toBe("secret_backend_unavailable");
    }
    expect(await checkReadiness([backend.readiness], 1_000)).toEqual({ ready: false, checks: { secret_backend: "unavailable" } });

    double.unseal();
    expect((await backend.readSecret(domain, name))?.value.toString()).toBe("hunter2");
    expect(await checkReadiness([backend.readiness], 1_000)).toEqual({ ready: true, checks: { secret_backend: "ok" } });
  });

  it("a wrong token (403 permission denied) is secret_backend_unavailable, never 'missing'", async () => {
    const intruder = createOpenBaoBackend(baoConfig(double.addr, "s.wrong-token"), { timeoutMs: 300 });
    try {
      for (const call of [
        () => intruder.readSecret(domain, name),
        () => intruder.readSecret(domain, "never-written"),
        () => intruder.writeSecret(domain, name, Buffer.from("x")),
        () => intruder.wrap(Buffer.from("x"), "ctx"),
        () => intruder.unwrap(wrapped, "ctx"),
      ]) {
        const error = await rejection(call());
        expect(error.code).toBe("secret_backend_unavailable");
        expect(error.cause).toMatchObject({ kind: "permission_denied", status: 403 });
      }
    } finally {
      await intruder.close();
    }
  });

  it("hung: rejects with secret_backend_unavailable while the double still holds the request", async () => {
    double.hang();
    // One at a time: a call made early and awaited late would reject with nobody listening.
    for (const call of [() => backend.readSecret(domain, name), () => backend.wrap(Buffer.from("x"), "ctx"), () => backend.readiness.check()]) {
      const error = await rejection(call());
      expect(error.code).toBe("secret_backend_unavailable");
      expect(error.cause).toMatchObject({ kind: "timeout" });
      // The adapter gave up on its own: the double had not been released, nothing was answered.
      expect(double.hanging).toBe(true);
    }
    expect(double.heldRequests()).toBe(3);
    double.release();
    expect((await backend.readSecret(domain, name))?.value.toString()).toBe("hunter2");
  });

  it("unreachable (nothing listening): secret_backend_unavailable, readiness unavailable", async () => {
    const port = await closedPort();
    const nowhere = createOpenBaoBackend(baoConfig(`http://127.0.0.1:${port}`, double.token), { timeoutMs: 1_000 });
    try {
      for (const call of [() => nowhere.readSecret(domain, name), () => nowhere.wrap(Buffer.from("x"), "ctx"), () => nowhere.readiness.check()]) {
        const error = await rejection(call());
        expect(error.code).toBe("secret_backend_unavailable");
        expect(error.cause).toMatchObject({ kind: "unreachable" });
      }
    } finally {
      await nowhere.close();
    }
  });

  it("a wrong KV mount (404 'no handler for route') is unavailable, not a missing secret", async () => {
    const misrouted = createOpenBaoBackend(baoConfig(double.addr, double.token, { kvMount: "not-mounted" }));
    try {
      expect((await rejection(misrouted.readSecret(domain, name))).code).toBe("secret_backend_unavailable");
    } finally {
      await misrouted.close();
    }
  });

  it("a malformed answer (200 that is not OpenBao's shape) is secret_backend_unavailable", async () => {
    const liar = http.createServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "text/html" }).end("<html>gateway</html>");
    });
    await new Promise<void>((resolve) => liar.listen(0, "127.0.0.1", resolve));
    const { port } = liar.address() as AddressInfo;
    const confused = createOpenBaoBackend(baoConfig(`http://127.0.0.1:${port}`, double.token));
    try {
      for (const call of [
        () => confused.readSecret(domain, name),
        () => confused.writeSecret(domain, name, Buffer.from("x")),
        () => confused.wrap(Buffer.from("x"), "ctx"),
        () => confused.readiness.check(),
      ]) {
        const error = await rejection(call());
        expect(error.code).toBe("secret_backend_unavailable");
        expect(error.cause).toMatchObject({ kind: "malformed_answer" });
      }
    } finally {
      await confused.close();
      liar.closeAllConnections();
      await new Promise<void>((resolve) => liar.close(() => { resolve(); }));
    }
  });

  it("initTransitKey() creates a derived key, and checkTransitKey() refuses an existing non-derived one", async () => {
    expect(double.transitKey("custos")).toEqual({ derived: true, latestVersion: 1 });
    double.createTransitKey("plain", { derived: false });
    const plain = createOpenBaoBackend(baoConfig(double.addr, double.token, { transitKey: "plain" }));
    try {
      expect((await rejection(plain.checkTransitKey())).code).toBe("secret_backend_unavailable");
    } finally {
      await plain.close();
    }
  });

  it("invalid names never reach OpenBao", async () => {
    const before = double.requests.length;
    await rejection(backend.readSecret("../sys", "health"));
    await rejection(backend.writeSecret(domain, "../../transit/keys/custos", Buffer.from("x")));
    expect(double.requests.length).toBe(before);
  });
});

// ---- no secret in any error --------------------------------------------------------------

describe("errors carry no secret value, token or plaintext", () => {
  const canary = `canary-${randomBytes(12).toString("hex")}`;
  const forms = [canary, Buffer.from(canary).toString("base64"), Buffer.from(canary).toString("base64url")];

  function expectClean(error: CustosError, token: string): void {
    // inspect() walks the cause chain and every own property, as a logger would.
    const rendered = [error.message, error.detail ?? "", inspect(error, { depth: 10 }), JSON.stringify(error)].join("\n");
    for (const form of [...forms, token]) expect(rendered).not.toContain(form);
  }

  it("OpenBao adapter: sealed, wrong token, hung, unreachable, and a wrong context", async () => {
    const double = await startOpenBaoDouble();
    const backend = createOpenBaoBackend(baoConfig(double.addr, double.token), { timeoutMs: 300 });
    const intruder = createOpenBaoBackend(baoConfig(double.addr, "s.wrong-token-value"), { timeoutMs: 300 });
    const nowhere = createOpenBaoBackend(baoConfig(`http://127.0.0.1:${await closedPort()}`, double.token), { timeoutMs: 1_000 });
    try {
      await backend.initTransitKey([]);
      await backend.writeSecret("acme", "canary", Buffer.from(canary));
      const wrapped = await backend.wrap(Buffer.from(canary), "ctx-a");
      const errors: CustosError[] = [await rejection(backend.unwrap(wrapped, "ctx-b"))];
      errors.push(await rejection(intruder.writeSecret("acme", "canary", Buffer.from(canary))));
      errors.push(await rejection(intruder.wrap(Buffer.from(canary), "ctx-a")));
      double.seal();
      errors.push(await rejection(backend.writeSecret("acme", "canary", Buffer.from(canary))));
      errors.push(await rejection(backend.wrap(Buffer.from(canary), "ctx-a")));
      double.unseal();
      double.hang();
      errors.push(await rejection(backend.writeSecret("acme", "canary", Buffer.from(canary))));
      errors.push(await rejection(backend.wrap(Buffer.from(canary), "ctx-a")));
      // Connection refused: the HTTP client's own error carries the request (token, body).
      errors.push(await rejection(nowhere.writeSecret("acme", "canary", Buffer.from(canary))));
      errors.push(await rejection(nowhere.wrap(Buffer.from(canary), "ctx-a")));
      expect(errors).toHaveLength(9);
      for (const error of errors) {
        expectClean(error, double.token);
        expectClean(error, "s.wrong-token-value");
      }
    } finally {
      await nowhere.close();
      await intruder.close();
      await backend.close();
      await double.stop();
    }
  });

  it("local backend: a wrong context and a tampered stored version", async () => {
    const dataDir = await tempDir();
    const backend = await openLocalBackend({ dataDir, nodeEnv: "test" });
    try {
      const wrapped = await backend.wrap(Buffer.from(canary), "ctx-a");
      const errors = [await rejection(backend.unwrap(wrapped, "ctx-b"))];
      await backend.writeSecret("acme", "canary", Buffer.from(canary));
      const file = path.join(dataDir, "secrets", "acme", "canary", "v0000000001.secret");
      const stored = await fs.readFile(file);
      expect(stored.includes(Buffer.from(canary))).toBe(false);
      stored[stored.length - 1] = (stored[stored.length - 1] ?? 0) ^ 0xff;
      await fs.writeFile(file, stored);
      errors.push(await rejection(backend.readSecret("acme", "canary")));
      expect(errors.map((error) => error.code)).toEqual(["internal", "secret_backend_unavailable"]);
      for (const error of errors) expectClean(error, "no-token");
    } finally {
      await backend.close();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});

// ---- local backend specifics -------------------------------------------------------------

describe("local backend", () => {
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await tempDir();
  });

  afterEach(async () => {
    vi.unstubAllEnvs();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it("refuses NODE_ENV=production, naming OPENBAO_ADDR, before creating any file", async () => {
    const refused = await openLocalBackend({ dataDir, nodeEnv: "production" }).then(
      () => new Error("expected a refusal"),
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).variable).toBe("OPENBAO_ADDR");
    expect((refused as ConfigError).message).toContain("OPENBAO_ADDR");

    vi.stubEnv("NODE_ENV", "production");
    await expect(openLocalBackend({ dataDir })).rejects.toBeInstanceOf(ConfigError);
    await expect(openSecretBackend({ dataDir, nodeEnv: "production", openbao: undefined })).rejects.toBeInstanceOf(ConfigError);
    expect(await fs.readdir(dataDir)).toEqual([]);
  });

  it("creates the key file 0600 and the secrets directory 0700, and keeps every version", async () => {
    const backend = await openLocalBackend({ dataDir, nodeEnv: "test" });
    try {
      const key = await fs.stat(path.join(dataDir, "local-backend.key"));
      expect(key.size).toBe(32);
      expect(key.mode & 0o777).toBe(0o600);
      expect((await fs.stat(path.join(dataDir, "secrets"))).mode & 0o777).toBe(0o700);

      await backend.writeSecret("acme", "api-key", Buffer.from("one"));
      await backend.writeSecret("acme", "api-key", Buffer.from("two"));
      const files = await fs.readdir(path.join(dataDir, "secrets", "acme", "api-key"));
      expect(files.sort()).toEqual(["v0000000001.secret", "v0000000002.secret"]);
    } finally {
      await backend.close();
    }
  });

  it("concurrent writes to one secret each get their own version", async () => {
    const backend = await openLocalBackend({ dataDir, nodeEnv: "test" });
    try {
      const written = await Promise.all(
        Array.from({ length: 8 }, (_, index) => backend.writeSecret("acme", "busy", Buffer.from(`value ${index}`))),
      );
      expect(written.map(({ version }) => version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    } finally {
      await backend.close();
    }
  });

  it("reopening the same data dir reads earlier values and unwraps earlier ciphertexts", async () => {
    const first = await openLocalBackend({ dataDir, nodeEnv: "test" });
    await first.writeSecret("acme", "token", Buffer.from("persisted"));
    const wrapped = await first.wrap(Buffer.from("wrapped key"), "ctx");
    await first.close();

    const second = await openLocalBackend({ dataDir, nodeEnv: "test" });
    try {
      expect(await second.readSecret("acme", "token")).toEqual({ value: Buffer.from("persisted"), version: 1 });
      expect((await second.unwrap(wrapped, "ctx")).toString()).toBe("wrapped key");
    } finally {
      await second.close();
    }
  });

  it("a version file copied under another name does not decrypt there", async () => {
    const backend = await openLocalBackend({ dataDir, nodeEnv: "test" });
    try {
      await backend.writeSecret("acme", "mine", Buffer.from("mine"));
      const theirs = path.join(dataDir, "secrets", "acme", "theirs");
      await fs.mkdir(theirs, { recursive: true });
      await fs.copyFile(path.join(dataDir, "secrets", "acme", "mine", "v0000000001.secret"), path.join(theirs, "v0000000001.secret"));
      expect((await rejection(backend.readSecret("acme", "theirs"))).code).toBe("secret_backend_unavailable");
    } finally {
      await backend.close();
    }
  });

  it("refuses a key file other users can read", async () => {
    await fs.writeFile(path.join(dataDir, "local-backend.key"), randomBytes(32), { mode: 0o644 });
    await fs.chmod(path.join(dataDir, "local-backend.key"), 0o644);
    expect((await rejection(openLocalBackend({ dataDir, nodeEnv: "test" }))).code).toBe("secret_backend_unavailable");
  });

  it("refuses a path-traversal name before any file access", async () => {
    const backend = await openLocalBackend({ dataDir, nodeEnv: "test" });
    const outside = path.join(dataDir, "outside.txt");
    await fs.writeFile(outside, "untouched");
    // With the secrets directory gone, any file access would answer "missing" (read) or
    // recreate it (write); invalid_name and an absent directory show none happened.
    await fs.rm(path.join(dataDir, "secrets"), { recursive: true });
    try {
      const attempts: Promise<unknown>[] = [
        backend.readSecret("acme", "../../outside.txt"),
        backend.readSecret("..", "outside.txt"),
        backend.readSecret("acme/../..", "outside.txt"),
        backend.writeSecret("acme", "../../outside.txt", Buffer.from("overwritten")),
        backend.writeSecret("../..", "outside.txt", Buffer.from("overwritten")),
        backend.writeSecret("acme", "..", Buffer.from("overwritten")),
        backend.writeSecret("acme", "x/../../../outside.txt", Buffer.from("overwritten")),
      ];
      for (const attempt of attempts) expect((await rejection(attempt)).code).toBe("invalid_name");
      await expect(fs.stat(path.join(dataDir, "secrets"))).rejects.toMatchObject({ code: "ENOENT" });
      expect(await fs.readFile(outside, "utf8")).toBe("untouched");
    } finally {
      await backend.close();
    }
  });

  it("after close() every call is secret_backend_unavailable", async () => {
    const backend: SecretBackend = await openLocalBackend({ dataDir, nodeEnv: "test" });
    await backend.close();
    expect((await rejection(backend.readSecret("acme", "x"))).code).toBe("secret_backend_unavailable");
    expect((await rejection(backend.wrap(Buffer.from("x"), "ctx"))).code).toBe("secret_backend_unavailable");
    expect((await rejection(backend.readiness.check())).code).toBe("secret_backend_unavailable");
  });
});
