import { randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { signingKeyContext } from "../../src/access/signing-keys.ts";
import { loadAuditKeyFile, loadOrCreateAuditKeyFile } from "../../src/audit/audit-signer.ts";
import { CommandRefused } from "../../src/cli/api-client.ts";
import { registerBackendCommand } from "../../src/cli/backend.command.ts";
import { wrapKeyContext } from "../../src/nodes/node-keys.ts";
import { MIGRATIONS_DIR } from "../../src/package-paths.ts";
import type { OpenBaoConfig } from "../../src/platform/config.ts";
import { openDatabase } from "../../src/platform/db/connect.ts";
import type { Database } from "../../src/platform/db/database.ts";
import { loadMigrations, migrateUp } from "../../src/platform/db/migrate.ts";
import { CustosError } from "../../src/platform/errors.ts";
import { createOpenBaoBackend, type BackendLog, type OpenBaoSecretBackend } from "../../src/secrets/backends/openbao-backend.ts";
import { ciphertextVersion } from "../../src/secrets/backends/openbao/rewrap-stored-material.ts";
import { seededDataDir } from "../support/stores.ts";
import { startOpenBaoDouble, type OpenBaoDouble } from "./openbao-double.ts";

/**
 * Issue "OpenBao in production", item 8: the Transit key rotation runbook. Rotate the key,
 * `custos backend rewrap` every stored ciphertext to the newest version, then raise
 * min_decryption_version: nothing is locked out. Raising it first makes unwraps answer 503
 * with the cause in the log (the key's state, not tampering), and rewrap says what to do.
 */

let double: OpenBaoDouble;
let dataDir: string;
let auditKeyFile: string;
let db: Database | undefined;
let bao: OpenBaoSecretBackend | undefined;
const lines: string[] = [];

const log: BackendLog = {
  info: () => undefined,
  warn: () => undefined,
  error: (_fields, message) => {
    lines.push(message);
  },
};

beforeEach(async () => {
  double = await startOpenBaoDouble();
  double.createTransitKey("custos", { derived: true });
  // Its embedded database starts from the run's initialised template, not from a fresh initdb.
  dataDir = await seededDataDir("custos-rewrap-");
  auditKeyFile = path.join(dataDir, "audit-signing-key.pem");
  lines.length = 0;
  vi.stubEnv("NODE_ENV", "test");
  vi.stubEnv("DATABASE_URL", "");
  vi.stubEnv("CUSTOS_DATA_DIR", dataDir);
  vi.stubEnv("CUSTOS_AUDIT_KEY_FILE", auditKeyFile);
  vi.stubEnv("CUSTOS_LOG_LEVEL", "silent");
  vi.stubEnv("OPENBAO_ADDR", double.addr);
  vi.stubEnv("OPENBAO_TOKEN", double.token);
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await bao?.close();
  bao = undefined;
  await db?.close();
  db = undefined;
  await double.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
});

function config(): OpenBaoConfig {
  return { addr: double.addr, auth: { method: "token", token: double.token }, kvMount: "secret", transitMount: "transit", transitKey: "custos", timeoutMs: 1_000 };
}

async function database(): Promise<Database> {
  db ??= await openDatabase({ databaseUrl: undefined, pgliteDir: path.join(dataDir, "pglite") });
  return db;
}

/** The CLI runs against the same embedded database; ours is closed while it does. */
async function run(...args: string[]): Promise<{ error: unknown; stderr: string }> {
  await db?.close();
  db = undefined;
  const program = new Command().exitOverride();
  registerBackendCommand(program);
  const printed: string[] = [];
  const stderr = vi.spyOn(console, "error").mockImplementation((...parts: unknown[]) => {
    printed.push(parts.map(String).join(" "));
  });
  try {
    await program.parseAsync(["node", "custos", ...args]);
    return { error: undefined, stderr: printed.join("\n") };
  } catch (error) {
    return { error, stderr: printed.join("\n") };
  } finally {
    stderr.mockRestore();
  }
}

interface Material {
  readonly nodeId: string;
  readonly nodeKid: string;
  readonly grantKid: string;
  readonly eventKid: string;
}

/** A node key, a grant and an event signing key and the audit key file, wrapped at the key's version 1. */
async function storeMaterial(): Promise<Material> {
  const store = await database();
  await migrateUp(store, await loadMigrations(MIGRATIONS_DIR));
  const nodeId = randomUUID();
  const nodeKid = "node-kid-0001";
  const grantKid = "grant-kid-0001";
  const eventKid = "event-kid-0001";
  const adapter = adapterFor();
  await store.query("INSERT INTO domains (id, issuer, client_id) VALUES ('acme', 'https://idp.example', 'custos')");
  await store.query("INSERT INTO nodes (id, domain, name) VALUES ($1, 'acme', 'web-1')", [nodeId]);
  await store.query("INSERT INTO node_secret_keys (kid, node_id, bearer_secret_sha256, wrapped_wrap_key) VALUES ($1, $2, $3, $4)", [
    nodeKid,
    nodeId,
    "0".repeat(64),
    await adapter.wrap(Buffer.from("node wrap key"), wrapKeyContext(nodeId, nodeKid)),
  ]);
  await store.query("INSERT INTO grant_signing_keys (domain, kid, public_jwk, wrapped_private_key) VALUES ('acme', $1, '{}', $2)", [
    grantKid,
    await adapter.wrap(Buffer.from("grant private key"), signingKeyContext("grant", "acme", grantKid)),
  ]);
  await store.query("INSERT INTO event_signing_keys (domain, kid, public_jwk, wrapped_private_key) VALUES ('acme', $1, '{}', $2)", [
    eventKid,
    await adapter.wrap(Buffer.from("event private key"), signingKeyContext("event", "acme", eventKid)),
  ]);
  await loadOrCreateAuditKeyFile(auditKeyFile, adapter);
  return { nodeId, nodeKid, grantKid, eventKid };
}

function adapterFor(): OpenBaoSecretBackend {
  bao ??= createOpenBaoBackend(config(), { log });
  return bao;
}

async function stored(material: Material): Promise<{ node: string; grant: string; event: string; audit: string }> {
  const store = await database();
  const [node] = await store.query<{ wrapped_wrap_key: string }>("SELECT wrapped_wrap_key FROM node_secret_keys WHERE kid = $1", [material.nodeKid]);
  const [grant] = await store.query<{ wrapped_private_key: string }>("SELECT wrapped_private_key FROM grant_signing_keys WHERE kid = $1", [material.grantKid]);
  const [event] = await store.query<{ wrapped_private_key: string }>("SELECT wrapped_private_key FROM event_signing_keys WHERE kid = $1", [material.eventKid]);
  const audit = (await fs.readFile(auditKeyFile, "utf8")).replace(/^[^:]+wrapped:/, "").trim();
  return { node: node?.wrapped_wrap_key ?? "", grant: grant?.wrapped_private_key ?? "", event: event?.wrapped_private_key ?? "", audit };
}

/** Every stored ciphertext unwraps under its own context. */
async function everythingUnwraps(material: Material): Promise<void> {
  const adapter = adapterFor();
  const now = await stored(material);
  expect((await adapter.unwrap(now.node, wrapKeyContext(material.nodeId, material.nodeKid))).toString()).toBe("node wrap key");
  expect((await adapter.unwrap(now.grant, signingKeyContext("grant", "acme", material.grantKid))).toString()).toBe("grant private key");
  expect((await adapter.unwrap(now.event, signingKeyContext("event", "acme", material.eventKid))).toString()).toBe("event private key");
  await loadAuditKeyFile(auditKeyFile, adapter);
}

const REWRAPS = (d: OpenBaoDouble) => d.requests.filter((entry) => entry === "POST /v1/transit/rewrap/custos").length;

async function auditRecords(): Promise<{ reason: string; details: { latest_version: number } }[]> {
  const store = await database();
  return store.query("SELECT reason, details FROM audit_events WHERE chain = 'platform' AND action = 'backend.rewrap' ORDER BY seq");
}

describe("rotating the Transit key", () => {
  it("runbook: rotate, `custos backend rewrap`, raise min_decryption_version — everything still unwraps; a second rewrap changes nothing", async () => {
    const material = await storeMaterial();
    double.rotateTransitKey("custos");

    const first = await run("backend", "rewrap");
    expect(first.error).toBeUndefined();
    expect(first.stderr).toContain("node keys: 1 rewrapped to v2, 0 already current");
    expect(first.stderr).toContain("grant signing keys: 1 rewrapped to v2");
    expect(first.stderr).toContain("event signing keys: 1 rewrapped to v2");
    expect(first.stderr).toContain("the audit key file: 1 rewrapped to v2");
    const after = await stored(material);
    expect([after.node, after.grant, after.event, after.audit].map(ciphertextVersion)).toEqual([2, 2, 2, 2]);

    double.setMinDecryptionVersion("custos", 2);
    await everythingUnwraps(material);

    const rewrapsBefore = REWRAPS(double);
    const second = await run("backend", "rewrap");
    expect(second.error).toBeUndefined();
    expect(second.stderr).toContain("node keys: 0 rewrapped to v2, 1 already current");
    expect(REWRAPS(double)).toBe(rewrapsBefore);
    expect(await stored(material)).toEqual(after);

    const records = await auditRecords();
    expect(records.map((record) => record.reason)).toEqual(["rewrapped", "rewrapped"]);
    expect(records[0]?.details.latest_version).toBe(2);
  });

  it("min_decryption_version raised before rewrapping: unwraps answer 503 with the cause in the log; rewrap refuses saying what to do, and repairs once it is lowered", async () => {
    const material = await storeMaterial();
    double.rotateTransitKey("custos");
    double.setMinDecryptionVersion("custos", 2);

    const adapter = adapterFor();
    const now = await stored(material);
    const refused = await adapter.unwrap(now.node, wrapKeyContext(material.nodeId, material.nodeKid)).then(
      () => new Error("expected a rejection"),
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(CustosError);
    expect((refused as CustosError).code).toBe("secret_backend_unavailable");
    expect(lines.some((line) => line.includes("too old") && line.includes("not tampering") && line.includes("custos backend rewrap"))).toBe(true);

    const blocked = await run("backend", "rewrap");
    expect(blocked.error).toBeInstanceOf(CommandRefused);
    expect((blocked.error as Error).message).toContain("lower min_decryption_version");
    expect(blocked.stderr).toContain("too old");
    expect([(await stored(material)).node].map(ciphertextVersion)).toEqual([1]);

    double.setMinDecryptionVersion("custos", 1);
    expect((await run("backend", "rewrap")).error).toBeUndefined();
    double.setMinDecryptionVersion("custos", 2);
    await everythingUnwraps(material);
    expect((await auditRecords()).map((record) => record.reason)).toEqual(["partially_rewrapped", "rewrapped"]);
  });

  it("a tampered stored ciphertext is reported, not rewrapped, and fails the command", async () => {
    const material = await storeMaterial();
    double.rotateTransitKey("custos");
    const store = await database();
    // Moved to another row: it does not authenticate under that row's context.
    const { grant } = await stored(material);
    await store.query("UPDATE node_secret_keys SET wrapped_wrap_key = $1", [grant]);
    const outcome = await run("backend", "rewrap");
    expect(outcome.error).toBeInstanceOf(CommandRefused);
    expect(outcome.stderr).toMatch(/node keys: 0 rewrapped to v2, 0 already current, 1 failed/);
    expect(outcome.stderr).toContain("grant signing keys: 1 rewrapped to v2");
  });
});
