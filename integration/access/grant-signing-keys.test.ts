import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGrantSigningKeys } from "../../src/access/signing-keys.ts";
import { MIGRATIONS_DIR } from "../../src/package-paths.ts";
import { loadMigrations, migrateUp } from "../../src/platform/db/migrate.ts";
import { openLocalBackend } from "../../src/secrets/backends/local-backend.ts";
import type { SecretBackend } from "../../src/secrets/secret-backend.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore } from "../support/stores.ts";

describe.each(storeKinds())("per-domain grant signing keys on %s", (kind) => {
  let store: IsolatedStore;
  let backend: SecretBackend;
  let dataDir: string;

  beforeAll(async () => {
    store = await createIsolatedStore(kind);
    await migrateUp(store.db, await loadMigrations(MIGRATIONS_DIR));
    await store.db.query("INSERT INTO domains (id, issuer, client_id) VALUES ('acme', 'https://idp.example', 'c'), ('globex', 'https://idp.example', 'c'), ('initech', 'https://idp.example', 'c')");
    dataDir = await mkdtemp(path.join(os.tmpdir(), "custos-keys-"));
    backend = await openLocalBackend({ dataDir, nodeEnv: "test" });
  });
  afterAll(async () => {
    await backend.close();
    await store.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("gives each domain its own key, and stores the private half only wrapped by the backend", async () => {
    const keys = createGrantSigningKeys({ db: store.db, wrapper: backend, publishRetiredForSeconds: 60 });
    const acme = await keys.activeKey("acme");
    const globex = await keys.activeKey("globex");
    expect(acme.kid).not.toBe(globex.kid);
    expect((await keys.activeKey("acme")).kid).toBe(acme.kid);

    const privateJwk = acme.privateKey.export({ format: "jwk" });
    const pkcs8 = acme.privateKey.export({ type: "pkcs8", format: "der" });
    const rows = JSON.stringify(await store.db.query("SELECT * FROM grant_signing_keys"));
    expect(rows).not.toContain(privateJwk.d);
    expect(rows).not.toContain(pkcs8.toString("base64"));
    expect(rows).not.toContain(pkcs8.toString("base64url"));
    const [row] = await store.db.query<{ wrapped_private_key: string }>("SELECT wrapped_private_key FROM grant_signing_keys WHERE domain = 'acme'");
    expect(row?.wrapped_private_key).toMatch(/^local:v1:/);
  });

  it("keeps the previous public key published after a rotation until grants signed with it have expired", async () => {
    const keys = createGrantSigningKeys({ db: store.db, wrapper: backend, publishRetiredForSeconds: 2 });
    const before = await keys.activeKey("acme");
    const after = await keys.rotate("acme");
    expect(after.kid).not.toBe(before.kid);
    expect((await keys.publicJwks("acme")).keys.map((k) => k.kid)).toEqual([after.kid, before.kid]);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect((await keys.publicJwks("acme")).keys.map((k) => k.kid)).toEqual([after.kid]);
  });

  it("publishes no private parameter in the JWKS", async () => {
    const keys = createGrantSigningKeys({ db: store.db, wrapper: backend, publishRetiredForSeconds: 60 });
    for (const key of (await keys.publicJwks("globex")).keys) {
      expect(key).not.toHaveProperty("d");
      expect(key).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
    }
  });

  it("prepares a domain's first key without storing it, and stores it only on commit — unless another replica stored one first", async () => {
    const replicaA = createGrantSigningKeys({ db: store.db, wrapper: backend, publishRetiredForSeconds: 60 });
    const replicaB = createGrantSigningKeys({ db: store.db, wrapper: backend, publishRetiredForSeconds: 60 });
    const countKeys = async () => Number((await store.db.query<{ n: number | string }>("SELECT count(*) AS n FROM grant_signing_keys WHERE domain = 'initech'"))[0]?.n);
    const preparedA = await replicaA.prepareActiveKey("initech");
    const preparedB = await replicaB.prepareActiveKey("initech");
    expect(await countKeys()).toBe(0);
    expect((await preparedB.commit()).kid).toBe(preparedB.kid);
    // A's kid would have been audited: it must not sign with B's key under A's kid, nor store a second active key.
    await expect(preparedA.commit()).rejects.toMatchObject({ code: "store_unavailable" });
    expect(await countKeys()).toBe(1);
    const next = await replicaA.prepareActiveKey("initech");
    expect(next.kid).toBe(preparedB.kid);
    expect((await next.commit()).kid).toBe(preparedB.kid);
  });
});
