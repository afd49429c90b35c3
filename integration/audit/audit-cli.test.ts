import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/platform/db/database.ts";
import { runCli, runCliProcess } from "../support/cli.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore } from "../support/stores.ts";
import { appendEvents, appenderFor, asDba, event, migrated } from "./audit-fixtures.ts";

/**
 * `custos audit …` as an auditor runs it, with the server's configuration: in this process
 * (the command from source), and once as a real process of the compiled dist/.
 */
describe.each(storeKinds())("custos audit on %s", (kind) => {
  let store: IsolatedStore;
  let scratch: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    store = await createIsolatedStore(kind, { pgliteOnDisk: true });
    scratch = await mkdtemp(path.join(os.tmpdir(), "custos-audit-cli-"));
    await migrated(store.db);
    await appendEvents(appenderFor(store.db), "acme", 10);
    env = { ...store.env, CUSTOS_AUDIT_KEY_FILE: path.join(scratch, "audit-key.pem") };
    if (kind === "pglite") await store.db.close(); // PGlite is single-process: hand the data to the CLI.
  });
  afterAll(async () => {
    await store.dispose();
    await rm(scratch, { recursive: true, force: true });
  });

  async function withDatabase(work: (db: Database) => Promise<void>): Promise<void> {
    const db = kind === "pglite" ? await store.reopen() : store.db;
    try {
      await work(db);
    } finally {
      if (kind === "pglite") await db.close();
    }
  }

  it("verifies the chain alone without reading or creating the audit key, and refuses a checkpoint it has no key for", async () => {
    const plain = await runCli(["audit", "verify", "acme"], env);
    expect(plain.code, plain.stderr).toBe(0);
    await expect(stat(env.CUSTOS_AUDIT_KEY_FILE ?? "")).rejects.toMatchObject({ code: "ENOENT" });
    await writeFile(path.join(scratch, "foreign.json"), JSON.stringify({ format: "custos-audit-checkpoint/v1", chain: "acme", seq: 1, hash: "0".repeat(64), at: null, signed_at: "x", key_id: "k", alg: "EdDSA", signature: "AA" }));
    const keyless = await runCli(["audit", "verify", "acme", "--checkpoint", path.join(scratch, "foreign.json")], env);
    expect(keyless.code).toBe(1);
    expect(keyless.stderr).toContain("cannot read the audit key file");
    await expect(stat(env.CUSTOS_AUDIT_KEY_FILE ?? "")).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("checkpoints, exports and verifies an intact chain with exit status 0", async () => {
    const checkpoint = await runCli(["audit", "checkpoint", "acme"], env);
    expect(checkpoint.code, checkpoint.stderr).toBe(0);
    expect(JSON.parse(checkpoint.stdout)).toMatchObject({ chain: "acme", seq: 10, alg: "EdDSA" });
    await writeFile(path.join(scratch, "checkpoint.json"), checkpoint.stdout);

    const exported = await runCli(["audit", "export", "acme", "--out", path.join(scratch, "mirror")], env);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stderr).toContain("exported 10 rows");

    const verified = await runCli(
      ["audit", "verify", "acme", "--checkpoint", path.join(scratch, "checkpoint.json"), "--mirror", path.join(scratch, "mirror"), "--json"],
      env,
    );
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, rows_checked: 10, checkpoint: { checked: true }, mirror: { rows_compared: 10 } });
  });

  it("exits 1 and names the failure's kind and seq when a row was rewritten", async () => {
    await withDatabase((db) =>
      asDba(db, async (tx) => {
        await tx.query("UPDATE audit_events SET reason = 'nothing happened' WHERE chain = 'acme' AND seq = 4");
      }),
    );
    // A real process: the broken chain's exit status reaches the shell.
    const verified = await runCliProcess(["audit", "verify", "acme"], env);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toContain("FAILURE hash_mismatch at seq 4");
  });

  // The built worker module (dist/audit/verification-worker.js) runs only for a chain of more
  // than one 5,000-row page; on the server, where 10,001 appends take a few seconds.
  it.skipIf(kind !== "postgres")("verifies a chain of three pages from the built CLI, the later pages on worker threads, and names a row rewritten in one", async () => {
    const appender = appenderFor(store.db, { maxBatchSize: 1000 });
    await Promise.all(Array.from({ length: 10_001 }, (_, index) => appender.append(event("paged", index + 1))));
    await appender.drain();
    const intact = await runCliProcess(["audit", "verify", "paged", "--json"], env);
    expect(intact.code, intact.stderr).toBe(0);
    expect(JSON.parse(intact.stdout)).toMatchObject({ ok: true, rows_checked: 10_001, head: { seq: 10_001 } });

    await asDba(store.db, async (tx) => {
      await tx.query("UPDATE audit_events SET reason = 'nothing happened' WHERE chain = 'paged' AND seq = 7500");
    });
    const tampered = await runCliProcess(["audit", "verify", "paged", "--json"], env);
    expect(tampered.code).toBe(1);
    expect(JSON.parse(tampered.stdout)).toMatchObject({ ok: false, rows_checked: 7499, failure: { kind: "hash_mismatch", seq: 7500 } });
  });

  it("refuses a malformed domain and an unreadable checkpoint with a usage message", async () => {
    const badDomain = await runCli(["audit", "verify", "Not_A_Domain"], env);
    expect(badDomain.code).toBe(2);
    expect(badDomain.stderr).toContain("domain id");
    const missing = await runCli(["audit", "verify", "acme", "--checkpoint", path.join(scratch, "nope.json")], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("cannot read the checkpoint file");
  });

  it("answers a typo'd domain with exit 1 'no such chain', naming where it looked, instead of an empty chain that verifies", async () => {
    const typo = await runCli(["audit", "verify", "acmee"], env);
    expect(typo.code).toBe(1);
    expect(typo.stdout).not.toContain("OK");
    expect(typo.stderr).toContain("no such chain: acmee");
    expect(typo.stderr).toMatch(kind === "postgres" ? /DATABASE_URL/ : /CUSTOS_DATA_DIR/);
  });

  it.skipIf(kind !== "pglite")("refuses to read from an embedded data directory that does not exist, and does not create one", async () => {
    const nowhere = path.join(scratch, "not-a-data-dir");
    for (const args of [["audit", "verify", "acme"], ["audit", "export", "acme", "--out", path.join(scratch, "m2")], ["audit", "checkpoint", "acme"]]) {
      const result = await runCli(args, { ...env, CUSTOS_DATA_DIR: nowhere });
      expect(result.code, args.join(" ")).toBe(1);
      expect(result.stderr).toContain(`no Custos data at ${nowhere}`);
    }
    await expect(stat(nowhere)).rejects.toMatchObject({ code: "ENOENT" });
  });
});
