import { randomBytes } from "node:crypto";
import { copyFile, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rotateAuditKey } from "../../src/audit/audit-keys.ts";
import { readCheckpoints, readSigningKeys } from "../../src/audit/audit-store.ts";
import { buildCustos, type Custos } from "../../src/custos.ts";
import type { Database } from "../../src/platform/db/database.ts";
import { runCli } from "../support/cli.ts";
import { testConfig } from "../support/config.ts";
import { serveOnLoopback, type TestServer } from "../support/http.ts";
import { captureLogger, type CapturedLogger } from "../support/logger.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore } from "../support/stores.ts";
import { appendEvents, migrated, rowsOf } from "./audit-fixtures.ts";

/** What part A of the audit keys left open: refusals that must change nothing. */
describe.each(storeKinds())("custos audit rotate-key when its audit record cannot be written, on %s", (kind) => {
  let store: IsolatedStore;
  let scratch: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    store = await createIsolatedStore(kind);
    scratch = await mkdtemp(path.join(os.tmpdir(), "custos-rotate-refused-"));
    await migrated(store.db);
    // The local secret backend (which wraps the key) lives in the data directory.
    env = { CUSTOS_DATA_DIR: scratch, ...store.env, CUSTOS_AUDIT_KEY_FILE: path.join(scratch, "audit-key.pem") };
    if (kind === "pglite") await store.db.close(); // PGlite is single-process: hand the data to the CLI.
    // A key, registered, as a server's first signature makes it.
    const signed = await runCli(["audit", "checkpoint", "platform"], env);
    expect(signed.code, signed.stderr).toBe(0);
  });
  afterAll(async () => {
    await store.dispose();
    await rm(scratch, { recursive: true, force: true });
  });

  async function withDatabase<T>(work: (db: Database) => Promise<T>): Promise<T> {
    const db = kind === "pglite" ? await store.reopen() : store.db;
    try {
      return await work(db);
    } finally {
      if (kind === "pglite") await db.close();
    }
  }

  it("exits non-zero and changes nothing: the same active key in the table and in the file, no pending key, no record", async () => {
    const file = env.CUSTOS_AUDIT_KEY_FILE ?? "";
    const keysBefore = await withDatabase((db) => readSigningKeys(db));
    const fileBefore = await readFile(file, "utf8");
    const recordsBefore = await withDatabase((db) => rowsOf(db, "platform"));
    expect(keysBefore).toHaveLength(1);

    await withDatabase((db) => db.query("ALTER TABLE audit_events ADD CONSTRAINT test_refuse_rotation CHECK (action <> 'audit.rotate_key') NOT VALID"));
    try {
      const refused = await runCli(["audit", "rotate-key"], env);
      expect(refused.code).not.toBe(0);
      expect(refused.stdout).toBe("");
    } finally {
      await withDatabase((db) => db.query("ALTER TABLE audit_events DROP CONSTRAINT test_refuse_rotation"));
    }
    expect(await withDatabase((db) => readSigningKeys(db))).toEqual(keysBefore);
    expect(await readFile(file, "utf8")).toBe(fileBefore);
    await expect(stat(`${file}.next`)).rejects.toMatchObject({ code: "ENOENT" });
    expect(await withDatabase((db) => rowsOf(db, "platform"))).toEqual(recordsBefore);

    // The same command rotates once the record can be written: the refusal above was the record's.
    const rotated = await runCli(["audit", "rotate-key"], env);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(await withDatabase((db) => readSigningKeys(db))).toHaveLength(2);
  });
});

describe("a server whose key file does not hold the active audit key", () => {
  const operatorToken = randomBytes(32).toString("base64url");
  let store: IsolatedStore;
  let custos: Custos;
  let server: TestServer;
  let scratch: string;
  let captured: CapturedLogger;

  beforeAll(async () => {
    store = await createIsolatedStore("pglite");
    scratch = await mkdtemp(path.join(os.tmpdir(), "custos-not-active-"));
    captured = captureLogger();
    custos = await buildCustos({ config: testConfig({ CUSTOS_OPERATOR_TOKEN: operatorToken }), database: store.db, logger: captured.logger });
    server = await serveOnLoopback(custos.app);
    await appendEvents(custos.audit, "platform", 3);
    // Another deployment's process rotates through its own copy of the key file: the table's
    // active key is now one this server's file does not hold.
    const elsewhere = path.join(scratch, "elsewhere.pem");
    await copyFile(custos.config.auditKeyFile, elsewhere);
    await rotateAuditKey({ db: store.db, file: elsewhere, wrapper: custos.backend, actor: "operator:elsewhere", requestId: "req-elsewhere" });
  });
  afterAll(async () => {
    await server.close();
    await custos.close();
    await store.dispose();
    await rm(scratch, { recursive: true, force: true });
  });

  it("answers 503 audit_unavailable when asked to sign a checkpoint over HTTP, and stores none", async () => {
    const response = await fetch(`${server.url}/v1/domains/platform/audit/checkpoints`, {
      method: "POST", headers: { authorization: `Bearer ${operatorToken}` },
    });
    expect(response.status).toBe(503);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    expect(await response.json()).toMatchObject({ code: "audit_unavailable" });
    expect(await readCheckpoints(store.db, "platform")).toEqual([]);
  });

  it("signs no scheduled checkpoint either: the job logs the refusal and stays scheduled", async () => {
    const result = await custos.auditSchedule.tick();
    expect(result.signed).toEqual([]);
    expect(await readCheckpoints(store.db, "platform")).toEqual([]);
    const failures = captured.lines().map((line) => JSON.parse(line) as { msg?: string; job?: string }).filter((line) => line.job === "checkpoint");
    expect(failures.map((line) => line.msg)).toEqual(["scheduled audit checkpoint job failed; retrying at the next tick"]);
  });
});
