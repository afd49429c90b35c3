import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendInTransaction } from "../../src/audit/append-in-transaction.ts";
import { readRecords } from "../../src/audit/audit-store.ts";
import { MIGRATIONS_DIR } from "../../src/package-paths.ts";
import { describeDataLoss, loadMigrations, migrateDown, type Migration } from "../../src/platform/db/migrate.ts";
import { PLATFORM_CHAIN } from "../../src/platform/names.ts";
import { startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";
import { storeKinds } from "../support/stores.ts";

/**
 * Every shipped migration, reversed newest first on a database that Custos has populated
 * through its API: each down that would destroy rows or values refuses (SQLSTATE 0A000) and
 * changes nothing; with data loss allowed it proceeds, and what it destroyed is on the
 * platform audit chain, committed with the down itself.
 */
describe.each(storeKinds())("reversing Custos's own migrations on a populated database on %s", (kind) => {
  let env: CustosWithProvider;
  let migrations: Migration[];

  beforeAll(async () => {
    env = await startCustosWithProvider({ kind, ...(kind === "postgres" ? { env: { CUSTOS_RATE_LIMIT_STORE: "postgres" } } : {}) });
    const admin = await env.idToken("alice", "mfa");
    const call = (method: string, path: string, body?: unknown) =>
      fetch(`${env.server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const node = (await (await call("POST", "/v1/domains/acme/nodes", { name: "web-1" })).json()) as { node_id: string };
    expect((await call("PUT", "/v1/domains/acme/secrets/db-password", { value: "s3cret" })).status).toBe(201);
    expect((await call("PUT", `/v1/domains/acme/secrets/db-password/readers/${node.node_id}`)).status).toBe(204);
    expect((await call("POST", "/v1/domains/acme/grants", { node_id: node.node_id, action: "ssh.login" })).status).toBe(201);
    await env.browserSession("alice", "password");
    await env.server.close();
    await env.custos.close();
    migrations = await loadMigrations(MIGRATIONS_DIR);
  });
  afterAll(async () => {
    await env.provider.close();
    await env.store.dispose();
  });

  it("refuses each down that would destroy data, then reverses it when allowed and audits it in the same transaction", async () => {
    const db = env.store.db;
    const refused: number[] = [];
    for (const migration of [...migrations].reverse()) {
      if (migration.version === 1) break;
      const ledgerBefore = await db.query("SELECT version FROM custos_migrations ORDER BY version");
      const attempt = await migrateDown(db, migrations).then(() => undefined, (error: unknown) => error);
      if (attempt !== undefined) {
        expect(attempt).toMatchObject({ code: "migration_refused", sqlState: "0A000", version: migration.version });
        expect(await db.query("SELECT version FROM custos_migrations ORDER BY version")).toEqual(ledgerBefore);
        refused.push(migration.version);
        const reversed = await migrateDown(db, migrations, {
          allowDataLoss: true,
          onDataLoss: async (tx, m, loss) => {
            await appendInTransaction(tx, {
              chain: PLATFORM_CHAIN, actor: "operator:test", action: "migration.down", resource: `migration:${String(m.version)}_${m.name}`,
              decision: "granted", reason: "data_loss_allowed", requestId: `test-${String(m.version)}`, details: { destroyed: describeDataLoss(loss) },
            });
          },
        });
        expect(reversed?.version).toBe(migration.version);
      } else {
        expect(await db.query("SELECT version FROM custos_migrations ORDER BY version")).not.toEqual(ledgerBefore);
      }
    }
    // Every migration that creates tables Custos fills through its API refused first.
    expect(refused).toEqual(expect.arrayContaining([10, 7, 6, 5, 4, 3, 2]));
    const audited = (await readRecords(db, PLATFORM_CHAIN, 0, 10_000)).filter((record) => record.action === "migration.down");
    expect(audited.map((record) => record.resource)).toEqual(refused.map((version) => expect.stringMatching(new RegExp(`^migration:${String(version)}_`)) as unknown));
    // The audit migration itself still refuses, whatever the operator allows.
    await expect(migrateDown(db, migrations, { allowDataLoss: true })).rejects.toMatchObject({ code: "migration_refused" });
  });
});
