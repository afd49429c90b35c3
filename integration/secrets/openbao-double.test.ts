import { afterEach, describe, expect, it } from "vitest";
import type { OpenBaoConfig } from "../../src/platform/config.ts";
import { createOpenBaoBackend, type OpenBaoSecretBackend } from "../../src/secrets/backends/openbao-backend.ts";
import { startOpenBaoDouble, type OpenBaoDouble, type OpenBaoDoubleOptions } from "./openbao-double.ts";

/**
 * The double answers as OpenBao's source does where Custos depends on it (issue "OpenBao in
 * production", "Make the double honest"), and the adapter copes: health parameters, rate-limit
 * quotas with Retry-After (logins retried like other calls), KV delete and destroy.
 */

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function double(options: OpenBaoDoubleOptions = {}): Promise<OpenBaoDouble> {
  const started = await startOpenBaoDouble(options);
  started.createTransitKey("custos", { derived: true });
  cleanups.push(() => started.stop());
  return started;
}

function backend(bao: OpenBaoDouble, overrides: Partial<OpenBaoConfig> = {}): OpenBaoSecretBackend {
  const made = createOpenBaoBackend({ addr: bao.addr, auth: { method: "token", token: bao.token }, kvMount: "secret", transitMount: "transit", transitKey: "custos", timeoutMs: 4_000, ...overrides });
  cleanups.push(() => made.close());
  return made;
}

async function status(bao: OpenBaoDouble, path: string, init: { readonly method?: string; readonly body?: string } = {}): Promise<number> {
  const headers: Record<string, string> = { "X-Vault-Token": bao.token, ...(init.body === undefined ? {} : { "Content-Type": "application/json" }) };
  const response = await fetch(`${bao.addr}/v1/${path}`, { ...init, headers });
  await response.arrayBuffer();
  return response.status;
}

describe("sys/health query parameters (vault/http/sys_health.go)", () => {
  it("active 200; a standby 429 unless standbyok; sealed 503; uninitialised 501; each code can be chosen", async () => {
    const bao = await double();
    expect(await status(bao, "sys/health")).toBe(200);
    expect(await status(bao, "sys/health?activecode=204")).toBe(204);
    bao.loseActiveNode();
    expect(await status(bao, "sys/health")).toBe(429);
    expect(await status(bao, "sys/health?standbyok=true")).toBe(200);
    expect(await status(bao, "sys/health?standbycode=472")).toBe(472);
    bao.restoreActiveNode();
    bao.seal();
    expect(await status(bao, "sys/health")).toBe(503);
    expect(await status(bao, "sys/health?sealedcode=200")).toBe(200);
    bao.uninitialize();
    expect(await status(bao, "sys/health")).toBe(501);
    expect(await status(bao, "sys/health?uninitcode=200")).toBe(200);
  });
});

describe("rate-limit quotas: 429 with Retry-After", () => {
  it("the double answers 429 past the quota with Retry-After; sys/health is exempt", async () => {
    const bao = await double();
    bao.limitRate({ limit: 1, intervalSeconds: 60 });
    expect(await status(bao, "auth/token/lookup-self")).toBe(200);
    const limited = await fetch(`${bao.addr}/v1/auth/token/lookup-self`, { headers: { "X-Vault-Token": bao.token } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(await limited.json()).toEqual({ errors: ['request path "auth/token/lookup-self": rate limit quota exceeded'] });
    expect(await status(bao, "sys/health")).toBe(200);
  });

  it("an AppRole login refused by a quota is retried after Retry-After, within the deadline", async () => {
    const bao = await double();
    bao.addAppRole({ roleId: "custos-role", secretId: "sid", ttlSeconds: 3600 });
    bao.limitRate({ limit: 1, intervalSeconds: 2 });
    // Uses the window's one request: the login meets the quota.
    expect(await status(bao, "auth/token/lookup-self")).toBe(200);
    const adapter = backend(bao, { auth: { method: "approle", mount: "approle", roleId: "custos-role", secretId: { value: "sid" } } });
    await adapter.start();
    expect(bao.requests.filter((entry) => entry === "POST /v1/auth/approle/login").length).toBe(2);
    expect(bao.logins.approle).toBe(1);
  });
});

describe("KV v2 delete and destroy", () => {
  it("a deleted latest version reads as absent; older versions stay readable until destroyed", async () => {
    const bao = await double();
    const adapter = backend(bao);
    await adapter.start();
    const first = await adapter.writeSecret("acme", "db-password", Buffer.from("v1"));
    await adapter.writeSecret("acme", "db-password", Buffer.from("v2"));
    expect(await status(bao, "secret/data/custos/acme/db-password", { method: "DELETE" })).toBe(204);
    expect(await adapter.readSecret("acme", "db-password")).toBeUndefined();
    expect((await adapter.readSecret("acme", "db-password", first.version))?.value.toString()).toBe("v1");
    const destroyed = await status(bao, "secret/destroy/custos/acme/db-password", {
      method: "POST",
      body: JSON.stringify({ versions: [first.version] }),
    });
    expect(destroyed).toBe(204);
    expect(await adapter.readSecret("acme", "db-password", first.version)).toBeUndefined();
    // A write after a delete continues the version sequence (check-and-set on current_version).
    expect((await adapter.writeSecret("acme", "db-password", Buffer.from("v3"))).version).toBe(3);
  });
});
