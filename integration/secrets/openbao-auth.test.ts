import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { inspect } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, type OpenBaoAuth, type OpenBaoConfig } from "../../src/platform/config.ts";
import { checkReadiness } from "../../src/platform/readiness.ts";
import { createOpenBaoBackend, type OpenBaoSecretBackend } from "../../src/secrets/backends/openbao-backend.ts";
import { openSecretBackend } from "../../src/secrets/open-secret-backend.ts";
import { startOpenBaoDouble, type OpenBaoDouble, type OpenBaoDoubleOptions } from "./openbao-double.ts";
import { rejection } from "./openbao-fixtures.ts";

/**
 * Issue "OpenBao in production", item 1: the token must not die unnoticed. Tokens have TTLs
 * in the double; its clock and the adapter's move together (advance()), so a 60 s TTL expires
 * without the test waiting a minute.
 */

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  readonly double: OpenBaoDouble;
  readonly backend: OpenBaoSecretBackend;
  readonly advance: (seconds: number) => void;
}

async function setup(doubleOptions: OpenBaoDoubleOptions, auth?: (double: OpenBaoDouble) => Promise<OpenBaoAuth> | OpenBaoAuth): Promise<Setup> {
  const double = await startOpenBaoDouble(doubleOptions);
  let offsetMs = 0;
  const config: OpenBaoConfig = {
    addr: double.addr,
    auth: auth === undefined ? { method: "token", token: double.token } : await auth(double),
    kvMount: "secret",
    transitMount: "transit",
    transitKey: "custos",
    timeoutMs: 1_000,
  };
  double.createTransitKey("custos", { derived: true });
  const backend = createOpenBaoBackend(config, { now: () => Date.now() + offsetMs });
  cleanups.push(async () => {
    await backend.close();
    await double.stop();
  });
  return {
    double,
    backend,
    advance: (seconds) => {
      offsetMs += seconds * 1000;
      double.advanceClock(seconds);
    },
  };
}

async function tempFile(content: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "custos-bao-auth-"));
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, "credential");
  await fs.writeFile(file, content, { mode: 0o600 });
  return file;
}

function count(double: OpenBaoDouble, request: string): number {
  return double.requests.filter((entry) => entry === request).length;
}

async function until(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const RENEW_SELF = "POST /v1/auth/token/renew-self";
const LOOKUP_SELF = "GET /v1/auth/token/lookup-self";

describe("static token (OPENBAO_AUTH=token)", () => {
  it("is renewed before it expires: calls keep working past its original TTL", async () => {
    const { double, backend, advance } = await setup({ tokenTtlSeconds: 60, tokenRenewable: true });
    await backend.start();
    await backend.writeSecret("acme", "db", Buffer.from("v1"));
    advance(45); // past two thirds of 60 s: the next call renews
    expect((await backend.readSecret("acme", "db"))?.value.toString()).toBe("v1");
    await until(() => count(double, RENEW_SELF) === 1);
    advance(45); // 90 s after issue: the original token would have expired at 60 s
    expect((await backend.readSecret("acme", "db"))?.value.toString()).toBe("v1");
    expect(double.tokenTtl(double.token)).toBeGreaterThan(0);
    await expect(backend.readiness.check()).resolves.toBeUndefined();
  });

  it("is renewed while idle, by a timer, without any call", async () => {
    const { double, backend } = await setup({ tokenTtlSeconds: 3, tokenRenewable: true });
    await backend.start();
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    expect(count(double, RENEW_SELF)).toBeGreaterThanOrEqual(1);
    await backend.writeSecret("acme", "db", Buffer.from("still here"));
  });

  it("readiness is authenticated: an expired token is not ready (sys/health would still be 200)", async () => {
    const { double, backend, advance } = await setup({ tokenTtlSeconds: 60, tokenRenewable: false });
    await backend.start();
    await expect(backend.readiness.check()).resolves.toBeUndefined();
    advance(61);
    expect(await checkReadiness([backend.readiness], 1_000)).toEqual({ ready: false, checks: { secret_backend: "unavailable" } });
    const error = await rejection(backend.readSecret("acme", "db"));
    expect(error.code).toBe("secret_backend_unavailable");
    expect(count(double, LOOKUP_SELF)).toBeGreaterThanOrEqual(2);
    expect(double.requests.some((entry) => entry.startsWith("GET /v1/sys/health"))).toBe(false);
  });

  it("readiness is authenticated: a revoked token is not ready", async () => {
    const { double, backend } = await setup({});
    await backend.start();
    double.revokeToken(double.token);
    expect(await checkReadiness([backend.readiness], 1_000)).toEqual({ ready: false, checks: { secret_backend: "unavailable" } });
  });

  it("a standby with no active node is not ready, though sys/health?standbyok answers 200", async () => {
    const { double, backend } = await setup({});
    await backend.start();
    await backend.writeSecret("acme", "db", Buffer.from("v1"));
    double.loseActiveNode();
    const health = await fetch(`${double.addr}/v1/sys/health?standbyok=true`);
    expect(health.status).toBe(200);
    expect(await checkReadiness([backend.readiness], 1_000)).toEqual({ ready: false, checks: { secret_backend: "unavailable" } });
    expect((await rejection(backend.readSecret("acme", "db"))).code).toBe("secret_backend_unavailable");
    double.restoreActiveNode();
    expect(await checkReadiness([backend.readiness], 1_000)).toEqual({ ready: true, checks: { secret_backend: "ok" } });
  });

  it("a token refused at start-up stops start-up with secret_backend_unavailable", async () => {
    const double = await startOpenBaoDouble();
    cleanups.push(() => double.stop());
    const error = await rejection(
      openSecretBackend({
        nodeEnv: "test",
        dataDir: os.tmpdir(),
        logLevel: "silent",
        openbao: { addr: double.addr, auth: { method: "token", token: "s.revoked" }, kvMount: "secret", transitMount: "transit", transitKey: "custos", timeoutMs: 1_000 },
      }),
    );
    expect(error.code).toBe("secret_backend_unavailable");
    expect(error.cause).toMatchObject({ kind: "permission_denied", status: 403 });
  });
});

describe("AppRole (OPENBAO_AUTH=approle)", () => {
  const roleId = "custos-role-id";

  /** A role whose tokens live 60 s, at most 100 s; its secret ID in a file. */
  async function setUpAppRole() {
    let secretFile = "";
    const fixture = await setup({}, async (d) => {
      d.addAppRole({ roleId, secretId: "secret-id-1", ttlSeconds: 60, maxTtlSeconds: 100 });
      secretFile = await tempFile("secret-id-1\n");
      return { method: "approle", mount: "approle", roleId, secretId: { file: secretFile } };
    });
    return { ...fixture, secretFile };
  }

  it("counts a renewed token's TTL from when the renewal was sent: a slow answer read after the clock moved still leads to the login at the max TTL", async () => {
    const { double, backend, advance } = await setUpAppRole();
    await backend.start();
    await backend.writeSecret("acme", "db", Buffer.from("v1"));

    // At 45 s the renewal is sent and answered (55 s left before the 100 s max TTL), but the
    // answer arrives only after the clock has reached 90 s.
    const release = double.holdNextAnswer(RENEW_SELF);
    advance(45);
    await backend.readSecret("acme", "db");
    await until(() => count(double, RENEW_SELF) === 1);
    advance(45);
    const read = backend.readSecret("acme", "db");
    release();
    expect((await read)?.value.toString()).toBe("v1");
    // The renewed token expires at 100 s, not 145 s: at 90 s it is due again, its renewal is
    // capped by the max TTL, and the adapter logs in.
    await until(() => double.logins.approle === 2);
    advance(45);
    expect((await backend.readSecret("acme", "db"))?.value.toString()).toBe("v1");
  });

  it("logs in, renews, logs in again at the max TTL, and again when its token is revoked", async () => {
    const { double, backend, advance, secretFile } = await setUpAppRole();
    await backend.start();
    expect(double.logins.approle).toBe(1);
    await backend.writeSecret("acme", "db", Buffer.from("v1"));

    advance(45);
    await backend.readSecret("acme", "db");
    await until(() => count(double, RENEW_SELF) === 1);
    expect(double.logins.approle).toBe(1);

    // The next renewal is capped by the role's 100 s max TTL: a fresh login instead.
    advance(45);
    await backend.readSecret("acme", "db");
    await until(() => double.logins.approle === 2);
    advance(45); // 135 s: the first token is long gone
    expect((await backend.readSecret("acme", "db"))?.value.toString()).toBe("v1");

    // The secret ID is re-read from its file at each login (rotated by the platform).
    double.addAppRole({ roleId, secretId: "secret-id-2", ttlSeconds: 60, maxTtlSeconds: 100 });
    await fs.writeFile(secretFile, "secret-id-2\n");
    double.revokeIssuedTokens();
    expect((await backend.readSecret("acme", "db"))?.value.toString()).toBe("v1");
    expect(double.logins.approle).toBe(3);
    await expect(backend.readiness.check()).resolves.toBeUndefined();
  });

  it("a refused secret ID stops start-up as secret_backend_unavailable, without the secret ID in the error", async () => {
    const { backend } = await setup({}, (d) => {
      d.addAppRole({ roleId, secretId: "the-right-one", ttlSeconds: 60 });
      return { method: "approle", mount: "approle", roleId, secretId: { value: "wrong-secret-id-value" } };
    });
    const error = await rejection(backend.start());
    expect(error.code).toBe("secret_backend_unavailable");
    expect(error.cause).toMatchObject({ kind: "permission_denied" });
    expect(inspect(error, { depth: 10 })).not.toContain("wrong-secret-id-value");
  });
});

describe("Kubernetes (OPENBAO_AUTH=kubernetes)", () => {
  it("logs in with the service account JWT read from its file, and again once the token expires", async () => {
    const { double, backend, advance } = await setup({}, async (d) => {
      d.addKubernetesRole({ role: "custos", jwt: "eyJ.jwt.sig", ttlSeconds: 60, renewable: false });
      return { method: "kubernetes", mount: "kubernetes", role: "custos", jwtFile: await tempFile("eyJ.jwt.sig\n") };
    });
    await backend.start();
    expect(double.logins.kubernetes).toBe(1);
    await backend.writeSecret("acme", "db", Buffer.from("v1"));
    advance(70); // not renewable: expired, so the next call logs in first
    expect((await backend.readSecret("acme", "db"))?.value.toString()).toBe("v1");
    expect(double.logins.kubernetes).toBe(2);
  });

  it("a JWT OpenBao refuses is secret_backend_unavailable", async () => {
    const { backend } = await setup({}, async (d) => {
      d.addKubernetesRole({ role: "custos", jwt: "eyJ.jwt.sig", ttlSeconds: 60 });
      return { method: "kubernetes", mount: "kubernetes", role: "custos", jwtFile: await tempFile("eyJ.other.sig") };
    });
    expect((await rejection(backend.start())).code).toBe("secret_backend_unavailable");
  });
});

describe("OPENBAO_AUTH configuration", () => {
  const base = { OPENBAO_ADDR: "https://bao:8200" };

  function refusal(env: Record<string, string>): ConfigError {
    try {
      loadConfig(env, "/srv");
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return error as ConfigError;
    }
    throw new Error("expected a ConfigError");
  }

  it("parses each method", () => {
    expect(loadConfig({ ...base, OPENBAO_TOKEN: "s.x" }).openbao?.auth).toEqual({ method: "token", token: "s.x" });
    expect(loadConfig({ ...base, OPENBAO_AUTH: "approle", OPENBAO_ROLE_ID: "r", OPENBAO_SECRET_ID_FILE: "/run/sid" }).openbao?.auth).toEqual({
      method: "approle", mount: "approle", roleId: "r", secretId: { file: "/run/sid" },
    });
    expect(loadConfig({ ...base, OPENBAO_AUTH: "kubernetes", OPENBAO_K8S_ROLE: "custos", OPENBAO_AUTH_MOUNT: "k8s-prod" }).openbao?.auth).toEqual({
      method: "kubernetes", mount: "k8s-prod", role: "custos", jwtFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
    });
    expect(loadConfig({ ...base, OPENBAO_TOKEN: "s.x" }).openbao?.timeoutMs).toBe(2000);
    expect(loadConfig({ ...base, OPENBAO_TOKEN: "s.x", OPENBAO_TIMEOUT_MS: "5000" }).openbao?.timeoutMs).toBe(5000);
  });

  it("refuses invalid combinations, naming the variable", () => {
    expect(refusal({ ...base, OPENBAO_AUTH: "ldap" }).variable).toBe("OPENBAO_AUTH");
    expect(refusal({ ...base }).variable).toBe("OPENBAO_TOKEN");
    expect(refusal({ ...base, OPENBAO_AUTH: "approle", OPENBAO_SECRET_ID: "s" }).variable).toBe("OPENBAO_ROLE_ID");
    expect(refusal({ ...base, OPENBAO_AUTH: "approle", OPENBAO_ROLE_ID: "r" }).variable).toBe("OPENBAO_SECRET_ID_FILE");
    expect(refusal({ ...base, OPENBAO_AUTH: "approle", OPENBAO_ROLE_ID: "r", OPENBAO_SECRET_ID: "s", OPENBAO_SECRET_ID_FILE: "/f" }).variable).toBe("OPENBAO_SECRET_ID_FILE");
    expect(refusal({ ...base, OPENBAO_AUTH: "approle", OPENBAO_ROLE_ID: "r", OPENBAO_SECRET_ID: "s", OPENBAO_TOKEN: "s.x" }).variable).toBe("OPENBAO_TOKEN");
    expect(refusal({ ...base, OPENBAO_TOKEN: "s.x", OPENBAO_ROLE_ID: "r" }).variable).toBe("OPENBAO_ROLE_ID");
    expect(refusal({ ...base, OPENBAO_TOKEN: "s.x", OPENBAO_K8S_JWT_FILE: "/jwt" }).variable).toBe("OPENBAO_K8S_JWT_FILE");
    expect(refusal({ ...base, OPENBAO_AUTH: "kubernetes" }).variable).toBe("OPENBAO_K8S_ROLE");
    expect(refusal({ ...base, OPENBAO_AUTH: "kubernetes", OPENBAO_K8S_ROLE: "c", OPENBAO_SECRET_ID: "s" }).variable).toBe("OPENBAO_SECRET_ID");
    expect(refusal({ ...base, OPENBAO_TOKEN: "s.x", OPENBAO_AUTH_MOUNT: "approle" }).variable).toBe("OPENBAO_AUTH_MOUNT");
    expect(refusal({ ...base, OPENBAO_TOKEN: "s.x", OPENBAO_TIMEOUT_MS: "10" }).variable).toBe("OPENBAO_TIMEOUT_MS");
  });
});
