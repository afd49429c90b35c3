import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { OpenBaoConfig } from "../../src/platform/config.ts";
import { createOpenBaoBackend } from "../../src/secrets/backends/openbao-backend.ts";
import { openSecretBackend } from "../../src/secrets/open-secret-backend.ts";
import { startOpenBaoDouble, type OpenBaoDouble } from "./openbao-double.ts";
import { documentedPolicies } from "./openbao-double-policy.ts";
import { rejection } from "./openbao-fixtures.ts";

/**
 * Issue "OpenBao in production", item 4: the documented least-privilege policies are what
 * Custos needs, no more and no less, and a token whose policy lacks a line stops start-up
 * naming the capability and path (one sys/capabilities-self call). The double enforces the
 * policies per path as OpenBao does; the policies are parsed from docs/openbao.md, so the
 * page cannot drift from what the code checks.
 */

const { service: SERVICE_POLICY, init: INIT_POLICY, rewrap: REWRAP_POLICY } = documentedPolicies();

let double: OpenBaoDouble;
let dataDir: string;

beforeEach(async () => {
  double = await startOpenBaoDouble();
  double.createTransitKey("custos", { derived: true });
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "custos-bao-policy-"));
});

afterEach(async () => {
  await double.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
});

/** A renewable 1 h token under `policy` alone: OpenBao's default policy detached, so nothing is granted by accident. */
function tokenWith(policy: string): string {
  return double.issueToken({ ttlSeconds: 3600, renewable: true, policy, noDefaultPolicy: true });
}

function config(token: string): OpenBaoConfig {
  return { addr: double.addr, auth: { method: "token", token }, kvMount: "secret", transitMount: "transit", transitKey: "custos", timeoutMs: 1_000 };
}

function open(token: string) {
  return openSecretBackend({ nodeEnv: "test", dataDir, logLevel: "silent", openbao: config(token) });
}

function without(policy: string, stanza: RegExp): string {
  const changed = policy.replace(stanza, "");
  expect(changed).not.toBe(policy);
  return changed;
}

describe("the documented least-privilege policies", () => {
  it("docs/openbao.md holds the service, init and rewrap policies", () => {
    expect(SERVICE_POLICY).toContain('path "transit/decrypt/custos"');
    expect(INIT_POLICY).toContain('path "transit/keys/custos"');
    expect(REWRAP_POLICY).toContain('path "transit/rewrap/custos"');
  });

  it("the service policy passes start-up, and every operation works under it alone", async () => {
    const backend = await open(tokenWith(SERVICE_POLICY));
    try {
      const written = await backend.writeSecret("acme", "db-password", Buffer.from("v1"));
      await backend.writeSecret("acme", "db-password", Buffer.from("v2"));
      expect((await backend.readSecret("acme", "db-password", written.version))?.value.toString()).toBe("v1");
      await backend.deleteSecret("acme", "db-password");
      expect(await backend.readSecret("acme", "db-password", written.version)).toBeUndefined();
      const wrapped = await backend.wrap(Buffer.from("key"), "ctx");
      expect((await backend.unwrap(wrapped, "ctx")).toString()).toBe("key");
      await backend.readiness.check();
    } finally {
      await backend.close();
    }
  });

  it("the init policy lets `backend init` create the key", async () => {
    double.deleteTransitKey("custos");
    const backend = createOpenBaoBackend(config(tokenWith(INIT_POLICY)));
    try {
      await backend.start();
      await backend.checkCapabilities("init");
      expect(await backend.initTransitKey([])).toBe("created");
    } finally {
      await backend.close();
    }
  });

  it("the rewrap policy passes the rewrap command's check", async () => {
    const backend = createOpenBaoBackend(config(tokenWith(REWRAP_POLICY)));
    try {
      await backend.start();
      await backend.checkCapabilities("rewrap");
    } finally {
      await backend.close();
    }
  });

  it("the service policy cannot create a Transit key, even by encrypting with a missing one", async () => {
    double.deleteTransitKey("custos");
    const backend = createOpenBaoBackend(config(tokenWith(SERVICE_POLICY)));
    try {
      expect((await rejection(backend.wrap(Buffer.from("key"), "ctx"))).cause).toMatchObject({ kind: "permission_denied" });
      expect(double.transitKey("custos")).toBeUndefined();
    } finally {
      await backend.close();
    }
  });
});

describe("start-up refuses a token whose policy lacks a capability, naming it", () => {
  it("init with `create` but not `update` on transit/keys/<key> (the old documented policy) refuses, naming update", async () => {
    double.deleteTransitKey("custos");
    const policy = INIT_POLICY.replace(/capabilities = \["read", "update"\]/, 'capabilities = ["create", "read"]');
    expect(policy).not.toBe(INIT_POLICY);
    const backend = createOpenBaoBackend(config(tokenWith(policy)));
    try {
      await backend.start();
      const error = await rejection(backend.checkCapabilities("init"));
      expect(error.code).toBe("secret_backend_unavailable");
      expect((error.cause as Error).message).toContain("update on transit/keys/custos");
      expect(double.transitKey("custos")).toBeUndefined();
    } finally {
      await backend.close();
    }
  });

  it("the service without decrypt refuses to start, naming update on transit/decrypt/<key>", async () => {
    const error = await rejection(open(tokenWith(without(SERVICE_POLICY, /path "transit\/decrypt\/custos" \{[^}]*\}/))));
    expect(error.code).toBe("secret_backend_unavailable");
    expect((error.cause as Error).message).toContain("update on transit/decrypt/custos");
  });

  it("the service with read-only KV data refuses, naming create and update on the data path", async () => {
    const policy = SERVICE_POLICY.replace(/(path "secret\/data\/custos\/\*" \{\s*capabilities = )\[[^\]]*\]/, '$1["read"]');
    expect(policy).not.toBe(SERVICE_POLICY);
    const error = await rejection(open(tokenWith(policy)));
    expect((error.cause as Error).message).toMatch(/create, update on secret\/data\/custos\/\S+/);
  });

  it("the service with read-only KV metadata (the old documented policy) refuses, naming delete on the metadata path", async () => {
    const policy = SERVICE_POLICY.replace(/(path "secret\/metadata\/custos\/\*" \{[^}]*capabilities = )\[[^\]]*\]/, '$1["read"]');
    expect(policy).not.toBe(SERVICE_POLICY);
    const error = await rejection(open(tokenWith(policy)));
    expect((error.cause as Error).message).toMatch(/delete on secret\/metadata\/custos\/\S+/);
  });

  it("a deletion the policy does not allow is refused by OpenBao and leaves every version in place", async () => {
    const writer = await open(tokenWith(SERVICE_POLICY));
    const policy = SERVICE_POLICY.replace(/(path "secret\/metadata\/custos\/\*" \{[^}]*capabilities = )\[[^\]]*\]/, '$1["read"]');
    // Past start-up's check (which would refuse this token), straight to the call.
    const limited = createOpenBaoBackend(config(tokenWith(policy)));
    try {
      await writer.writeSecret("acme", "kept", Buffer.from("v1"));
      await limited.start();
      const error = await rejection(limited.deleteSecret("acme", "kept"));
      expect(error.code).toBe("secret_backend_unavailable");
      expect(error.cause).toMatchObject({ kind: "permission_denied" });
      expect((await writer.readSecret("acme", "kept"))?.value.toString()).toBe("v1");
    } finally {
      await limited.close();
      await writer.close();
    }
  });

  it("a renewable token without renew-self refuses, naming it", async () => {
    const error = await rejection(open(tokenWith(without(SERVICE_POLICY, /path "auth\/token\/renew-self" \{[^}]*\}/))));
    expect((error.cause as Error).message).toContain("update on auth/token/renew-self");
  });

  it("a token that may not call sys/capabilities-self refuses, naming it", async () => {
    const error = await rejection(open(tokenWith(without(SERVICE_POLICY, /path "sys\/capabilities-self" \{[^}]*\}/))));
    expect((error.cause as Error).message).toContain("sys/capabilities-self");
  });

  it("an explicit deny on a path, in another stanza, wins over the grant", async () => {
    const error = await rejection(open(tokenWith(`${SERVICE_POLICY}\npath "transit/encrypt/custos" {\n  capabilities = ["deny"]\n}\n`)));
    expect((error.cause as Error).message).toContain("update on transit/encrypt/custos");
  });

  it("a policy granting the KV prefix with `+` segments passes", async () => {
    const policy = SERVICE_POLICY.replace('path "secret/data/custos/*"', 'path "secret/data/custos/+/*"');
    expect(policy).not.toBe(SERVICE_POLICY);
    const backend = await open(tokenWith(policy));
    await backend.close();
  });
});
