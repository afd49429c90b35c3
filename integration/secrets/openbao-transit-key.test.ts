import fs from "node:fs/promises";
import path from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { registerBackendCommand } from "../../src/cli/backend.command.ts";
import { CommandRefused } from "../../src/cli/api-client.ts";
import { MIGRATIONS_DIR } from "../../src/package-paths.ts";
import type { OpenBaoConfig } from "../../src/platform/config.ts";
import { openDatabase } from "../../src/platform/db/connect.ts";
import { loadMigrations, migrateUp } from "../../src/platform/db/migrate.ts";
import { createOpenBaoBackend } from "../../src/secrets/backends/openbao-backend.ts";
import { openSecretBackend } from "../../src/secrets/open-secret-backend.ts";
import { seededDataDir } from "../support/stores.ts";
import { startOpenBaoDouble, type OpenBaoDouble } from "./openbao-double.ts";
import { rejection } from "./openbao-fixtures.ts";

/**
 * Issue "OpenBao in production", item 2: the Transit key must never change silently. Start-up
 * never creates it; `custos backend init` creates the first one, and refuses while anything
 * wrapped by a key of that name exists.
 */

let double: OpenBaoDouble;
let dataDir: string;

beforeEach(async () => {
  double = await startOpenBaoDouble();
  // Its embedded database starts from the run's initialised template, not from a fresh initdb.
  dataDir = await seededDataDir("custos-transit-key-");
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await double.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
});

function config(overrides: Partial<OpenBaoConfig> = {}): OpenBaoConfig {
  return { addr: double.addr, auth: { method: "token", token: double.token }, kvMount: "secret", transitMount: "transit", transitKey: "custos", timeoutMs: 1_000, ...overrides };
}

function open(overrides: Partial<OpenBaoConfig> = {}) {
  return openSecretBackend({ nodeEnv: "test", dataDir, logLevel: "silent", openbao: config(overrides) });
}

const KEY_CREATIONS = (d: OpenBaoDouble) => d.requests.filter((entry) => /^(POST|PUT) \/v1\/transit\/keys\//.test(entry)).length;

describe("start-up checks the Transit key and never creates one", () => {
  it("a missing key (typo, restored cluster, deleted key) stops start-up; no key is created", async () => {
    const error = await rejection(open({ transitKey: "custso" }));
    expect(error.code).toBe("secret_backend_unavailable");
    expect(error.detail).toContain("is missing");
    expect((error.cause as Error).message).toContain("custos backend init");
    expect(double.transitKey("custso")).toBeUndefined();
    expect(KEY_CREATIONS(double)).toBe(0);
  });

  it("refuses a key that is not derived, is convergent, or is soft-deleted", async () => {
    double.createTransitKey("plain", { derived: false });
    double.createTransitKey("convergent", { derived: true, convergent: true });
    double.createTransitKey("deleted", { derived: true });
    double.softDeleteTransitKey("deleted");
    for (const [transitKey, says] of [["plain", "derived=false"], ["convergent", "convergent_encryption"], ["deleted", "soft-deleted"]] as const) {
      const error = await rejection(open({ transitKey }));
      expect(error.code).toBe("secret_backend_unavailable");
      expect((error.cause as Error).message).toContain(says);
    }
  });

  it("a fit key: start-up succeeds and wraps with it", async () => {
    double.createTransitKey("custos", { derived: true });
    const backend = await open();
    try {
      const wrapped = await backend.wrap(Buffer.from("k"), "ctx");
      expect((await backend.unwrap(wrapped, "ctx")).toString()).toBe("k");
    } finally {
      await backend.close();
    }
  });
});

describe("initTransitKey()", () => {
  it("creates a derived key on a first install, checking the answer; a second init leaves it alone", async () => {
    const backend = createOpenBaoBackend(config());
    try {
      expect(await backend.initTransitKey([])).toBe("created");
      expect(double.transitKey("custos")).toEqual({ derived: true, latestVersion: 1 });
      expect(await backend.initTransitKey([])).toBe("exists");
      expect(KEY_CREATIONS(double)).toBe(1);
    } finally {
      await backend.close();
    }
  });

  it("refuses to create a key while wrapped material exists, naming it", async () => {
    const backend = createOpenBaoBackend(config());
    try {
      const error = await rejection(backend.initTransitKey(["2 node key(s) (node_secret_keys)"]));
      expect(error.code).toBe("secret_backend_unavailable");
      expect((error.cause as Error).message).toContain("node_secret_keys");
      expect(KEY_CREATIONS(double)).toBe(0);
    } finally {
      await backend.close();
    }
  });

  it("checks the creation answer: a key that 'already existed' (created meanwhile) is refused", async () => {
    // The read sees no key; by the time init creates it, a non-derived one exists (a race).
    double.createTransitKey("custos", { derived: false });
    double.inject({ match: /^GET \/v1\/transit\/keys\/custos$/, times: 1, status: 404 });
    const backend = createOpenBaoBackend(config());
    try {
      const error = await rejection(backend.initTransitKey([]));
      expect(error.code).toBe("secret_backend_unavailable");
      expect((error.cause as Error).message).toContain("already existed");
      expect(double.transitKey("custos")).toEqual({ derived: false, latestVersion: 1 });
    } finally {
      await backend.close();
    }
  });

  it("key creation is never repeated: a failed creation fails init", async () => {
    double.inject({ match: /^(POST|PUT) \/v1\/transit\/keys\/custos$/, times: 1, status: 502 });
    const backend = createOpenBaoBackend(config());
    try {
      expect((await rejection(backend.initTransitKey([]))).cause).toMatchObject({ kind: "server_error", status: 502 });
      expect(KEY_CREATIONS(double)).toBe(1);
    } finally {
      await backend.close();
    }
  });

  it("an existing unfit key is refused, not accepted as initialised", async () => {
    double.createTransitKey("custos", { derived: false });
    const backend = createOpenBaoBackend(config());
    try {
      expect((await rejection(backend.initTransitKey([]))).code).toBe("secret_backend_unavailable");
    } finally {
      await backend.close();
    }
  });
});

describe("custos backend init", () => {
  function stubEnvironment(): void {
    vi.stubEnv("NODE_ENV", "test");
    vi.stubEnv("DATABASE_URL", "");
    vi.stubEnv("CUSTOS_DATA_DIR", dataDir);
    vi.stubEnv("CUSTOS_AUDIT_KEY_FILE", path.join(dataDir, "audit-signing-key.pem"));
    vi.stubEnv("CUSTOS_LOG_LEVEL", "silent");
    vi.stubEnv("OPENBAO_ADDR", double.addr);
    vi.stubEnv("OPENBAO_TOKEN", double.token);
  }

  async function run(...args: string[]): Promise<unknown> {
    const program = new Command().exitOverride();
    registerBackendCommand(program);
    const stderr = vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      await program.parseAsync(["node", "custos", ...args]);
      return undefined;
    } catch (error) {
      return error;
    } finally {
      stderr.mockRestore();
    }
  }

  it("creates the key on a first install; then `backend check` passes", async () => {
    stubEnvironment();
    expect(await run("backend", "init")).toBeUndefined();
    expect(double.transitKey("custos")).toEqual({ derived: true, latestVersion: 1 });
    expect(await run("backend", "check")).toBeUndefined();
  });

  it("refuses while grant or event signing keys are stored, creating nothing", async () => {
    stubEnvironment();
    const db = await openDatabase({ databaseUrl: undefined, pgliteDir: path.join(dataDir, "pglite") });
    try {
      await migrateUp(db, await loadMigrations(MIGRATIONS_DIR));
      await db.query("INSERT INTO grant_signing_keys (domain, kid, public_jwk, wrapped_private_key) VALUES ('acme', 'kid-12345678', '{}', 'vault:v1:AAAA')");
      await db.query("INSERT INTO event_signing_keys (domain, kid, public_jwk, wrapped_private_key) VALUES ('acme', 'kid-12345678', '{}', 'vault:v1:AAAA')");
    } finally {
      await db.close();
    }
    const refused = await run("backend", "init");
    expect(refused).toBeInstanceOf(CommandRefused);
    expect((refused as Error).message).toContain("1 grant signing key(s) (grant_signing_keys)");
    expect((refused as Error).message).toContain("1 event signing key(s) (event_signing_keys)");
    expect(KEY_CREATIONS(double)).toBe(0);
  });

  it("refuses while the audit key file exists", async () => {
    stubEnvironment();
    await fs.writeFile(path.join(dataDir, "audit-signing-key.pem"), "wrapped");
    const refused = await run("backend", "init");
    expect(refused).toBeInstanceOf(CommandRefused);
    expect((refused as Error).message).toContain("audit key file");
    expect(double.transitKey("custos")).toBeUndefined();
  });

  it("`backend check` fails when the key is missing", async () => {
    stubEnvironment();
    expect(await run("backend", "check")).toBeInstanceOf(CommandRefused);
  });
});
