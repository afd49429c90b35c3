import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDomainRepository } from "../../src/identity/domains/domain-repo.ts";
import { createNodeRepository } from "../../src/nodes/node-repo.ts";
import { MIGRATIONS_DIR } from "../../src/package-paths.ts";
import { loadMigrations, migrateUp } from "../../src/platform/db/migrate.ts";
import { createSecretRepository, type SecretRepository } from "../../src/secrets/secret-repo.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore } from "../support/stores.ts";

/** The read path's one lookup: the bearer's key and the secret, in one statement. */
describe.each(storeKinds())("the read path's key-and-secret lookup on %s", (kind) => {
  let store: IsolatedStore;
  let secrets: SecretRepository;
  const acmeNode = randomUUID();

  beforeAll(async () => {
    store = await createIsolatedStore(kind);
    await migrateUp(store.db, await loadMigrations(MIGRATIONS_DIR));
    const domains = createDomainRepository(store.db);
    for (const id of ["acme", "globex"]) await domains.upsert({ id, issuer: `https://idp.${id}.example`, clientId: "custos", admins: [], auditors: [] });
    await createNodeRepository(store.db).insertNode(
      { id: acmeNode, domain: "acme", name: "web-1", status: "active" },
      { kid: "acme-kid-0001", nodeId: acmeNode, bearerSecretSha256: "a".repeat(64), wrappedWrapKey: "local:v1:wrapped" },
    );
    secrets = createSecretRepository(store.db);
    await secrets.upsert({ domain: "acme", name: "db-password", version: 4, authzRevision: "zed-7" });
    await secrets.upsert({ domain: "globex", name: "globex-only", version: 2, authzRevision: "zed-9" });
  });
  afterAll(async () => {
    await store.dispose();
  });

  it("finds the key with its node and the named secret of that node's domain", async () => {
    const found = await secrets.findWithNodeKey("acme-kid-0001", "db-password");
    expect(found?.key).toMatchObject({ kid: "acme-kid-0001", nodeId: acmeNode, retiresAt: undefined, node: { domain: "acme", status: "active" } });
    expect(found?.secret).toEqual({ domain: "acme", name: "db-password", version: 4, authzRevision: "zed-7" });
  });

  it("never finds another domain's secret of the asked name, and still finds the key", async () => {
    const found = await secrets.findWithNodeKey("acme-kid-0001", "globex-only");
    expect(found?.key.nodeId).toBe(acmeNode);
    expect(found?.secret).toBeUndefined();
  });

  it("finds nothing for an unknown kid", async () => {
    expect(await secrets.findWithNodeKey("unknown-kid-01", "db-password")).toBeUndefined();
  });

  it("answers lookups made together in one statement, each with its own row", async () => {
    const statements: string[] = [];
    const counted = createSecretRepository({
      query: (text, params) => {
        statements.push(text);
        return store.db.query(text, params);
      },
    });
    const [mine, otherDomains, unknown, again] = await Promise.all([
      counted.findWithNodeKey("acme-kid-0001", "db-password"),
      counted.findWithNodeKey("acme-kid-0001", "globex-only"),
      counted.findWithNodeKey("unknown-kid-01", "db-password"),
      counted.findWithNodeKey("acme-kid-0001", "db-password"),
    ]);
    expect(statements).toHaveLength(1);
    expect(mine?.secret).toEqual({ domain: "acme", name: "db-password", version: 4, authzRevision: "zed-7" });
    expect(otherDomains?.key.nodeId).toBe(acmeNode);
    expect(otherDomains?.secret).toBeUndefined();
    expect(unknown).toBeUndefined();
    expect(again).toEqual(mine);
  });

  it("refuses a lookup queued behind a statement the store never answers by its own deadline, not after that statement's", async () => {
    let statements = 0;
    const hung = createSecretRepository({
      query: () => {
        statements += 1;
        return new Promise<never>(() => undefined);
      },
    }, { lookupDeadlineMs: 200 });
    const first = hung.findWithNodeKey("acme-kid-0001", "db-password");
    first.catch(() => undefined);
    await expect.poll(() => statements).toBe(1);
    // Queued: the first statement is in flight and never answers (without its own deadline,
    // this lookup would never settle and the test would time out).
    await expect(hung.findWithNodeKey("acme-kid-0001", "db-password")).rejects.toMatchObject({ code: "store_unavailable" });
    await expect(first).rejects.toMatchObject({ code: "store_unavailable" });
  });

  it("answers a lookup made while a statement is in flight from a later statement, which sees a change committed meanwhile", async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => { release = resolve; });
    let statements = 0;
    const gated = createSecretRepository({
      // The first statement has run (its snapshot is taken) but its rows are held back.
      query: async <Row>(text: string, params?: readonly unknown[]) => {
        statements += 1;
        const rows = await store.db.query<Row>(text, params);
        if (statements === 1) await held;
        return rows;
      },
    });
    const before = gated.findWithNodeKey("acme-kid-0001", "db-password");
    await expect.poll(() => statements).toBe(1);
    await secrets.setAuthzRevision("acme", "db-password", "zed-8");
    const after = gated.findWithNodeKey("acme-kid-0001", "db-password");
    release();
    expect((await before)?.secret?.authzRevision).toBe("zed-7");
    expect((await after)?.secret?.authzRevision).toBe("zed-8");
    expect(statements).toBe(2);
    await secrets.setAuthzRevision("acme", "db-password", "zed-7");
  });
});
