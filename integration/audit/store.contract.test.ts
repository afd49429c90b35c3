import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSigningKeyRepository, signingKeyTable, type SigningKeyPurpose, type SigningKeyRepository } from "../../src/access/signing-key-repo.ts";
import { chainRecord, genesisHash, type ChainedAuditRecord } from "../../src/audit/audit-record.ts";
import { sqlAuditStore, type AuditStore } from "../../src/audit/audit-store.ts";
import { createDomainRepository } from "../../src/identity/domains/domain-repo.ts";
import type { DomainListing, DomainRepository } from "../../src/identity/domains/domain.ts";
import { createSessionRepository } from "../../src/identity/sessions/session-repo.ts";
import type { SessionRepository } from "../../src/identity/sessions/session-repo.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore, type StoreKind } from "../support/stores.ts";
import { migrated } from "./audit-fixtures.ts";

// One contract for the audit store and the session, domain and grant signing key
// repositories, each exercised through its port, run on PGlite and (when
// DATABASE_URL is set) on the PostgreSQL server: the two stores must answer alike, so a test
// that passes on one says something about the other.

const NOW = 1_700_000_000;

function records(chain: string, count: number, from = 1, prev = genesisHash(chain)): ChainedAuditRecord[] {
  const out: ChainedAuditRecord[] = [];
  let prevHash = prev;
  for (let seq = from; seq < from + count; seq += 1) {
    const record = chainRecord({
      chain, seq, at: "2026-01-01T00:00:00.123Z", actor: "operator", action: "domain.put", resource: "domain:acme",
      decision: "granted", reason: "ok", request_id: `req-${String(seq)}`, details: { n: seq, nested: { ok: true } }, prev_hash: prevHash,
    });
    out.push(record);
    prevHash = record.hash;
  }
  return out;
}

describe.each(storeKinds())("the audit store contract on %s", (kind) => {
  let store: IsolatedStore;
  // The contract is written against the port; the SQL adapter is the one under test.
  const audit: AuditStore = sqlAuditStore;

  beforeAll(async () => {
    store = await createIsolatedStore(kind);
    await migrated(store.db);
  });
  afterAll(async () => {
    await store.dispose();
  });

  it("creates a chain's row on its first lock, and an empty chain has no head", async () => {
    await store.db.transaction(async (tx) => {
      await audit.lockChain(tx, "fresh", genesisHash("fresh"));
    });
    expect(await store.db.query("SELECT genesis FROM audit_chains WHERE chain = 'fresh'")).toEqual([{ genesis: genesisHash("fresh") }]);
    expect(await audit.readChainHead(store.db, "fresh")).toBeUndefined();
  });

  it("locks a chain and reads its head as the lock holder sees it: none on the chain's first event, the newest record after", async () => {
    const head = (budget?: number) => store.db.transaction((tx) => audit.lockChainAndReadHead(tx, "headed", genesisHash("headed"), budget));
    expect(await head()).toBeUndefined();
    const written = records("headed", 3);
    await store.db.transaction(async (tx) => {
      await audit.lockChain(tx, "headed", genesisHash("headed"));
      await audit.insertRecords(tx, written);
    });
    expect(await head(5_000)).toEqual({ seq: 3, hash: written[2]?.hash, at: "2026-01-01T00:00:00.123Z" });
  });

  it("reads back exactly what was inserted: the timestamps and details that were hashed", async () => {
    const written = records("roundtrip", 5);
    await store.db.transaction(async (tx) => {
      await audit.lockChain(tx, "roundtrip", genesisHash("roundtrip"), 5_000);
      await audit.insertRecords(tx, written);
    });
    expect(await audit.readRecords(store.db, "roundtrip", 0, 100)).toEqual(written);
    expect(await audit.readRecords(store.db, "roundtrip", 2, 2)).toEqual(written.slice(2, 4));
    expect(await audit.readChainHead(store.db, "roundtrip")).toEqual({ seq: 5, hash: written[4]?.hash, at: "2026-01-01T00:00:00.123Z" });
  });

  it("finds each actor's newest granted secret read in one statement, and nothing for an actor that never read", async () => {
    const read = (seq: number, prev: string, actor: string, at: string, decision: "granted" | "denied") => chainRecord({
      chain: "reads", seq, at, actor, action: "secret.read", resource: "secret:reads/db", decision, reason: "ok", request_id: `r-${String(seq)}`, details: {}, prev_hash: prev,
    });
    const written: ChainedAuditRecord[] = [];
    let prev = genesisHash("reads");
    for (const [actor, at, decision] of [
      ["node:a", "2026-01-01T00:00:01.000Z", "granted"], ["node:a", "2026-01-01T00:00:02.500Z", "granted"],
      ["node:b", "2026-01-01T00:00:03.000Z", "granted"], ["node:b", "2026-01-01T00:00:04.000Z", "denied"],
    ] as const) {
      const record = read(written.length + 1, prev, actor, at, decision);
      written.push(record);
      prev = record.hash;
    }
    await store.db.transaction(async (tx) => {
      await audit.lockChain(tx, "reads", genesisHash("reads"), 5_000);
      await audit.insertRecords(tx, written);
    });
    const last = await audit.lastGrantedSecretReads(store.db, "reads", ["node:a", "node:b", "node:never"]);
    expect(Object.fromEntries(last)).toEqual({ "node:a": "2026-01-01T00:00:02.500Z", "node:b": "2026-01-01T00:00:03.000Z" });
    expect((await audit.lastGrantedSecretReads(store.db, "other", ["node:a"])).size).toBe(0);
  });

  it("streams a whole chain in pages, in seq order", async () => {
    const pages: ChainedAuditRecord[][] = [];
    for await (const page of audit.streamRecordPages(store.db, "roundtrip", { pageSize: 2 })) pages.push([...page]);
    expect(pages.map((page) => page.map((record) => record.seq))).toEqual([[1, 2], [3, 4], [5]]);
  });

  it("says whether a record stands by chain, seq and hash", async () => {
    const [first] = await audit.readRecords(store.db, "roundtrip", 0, 1);
    if (first === undefined) throw new Error("no record");
    expect(await audit.recordStands(store.db, first)).toBe(true);
    expect(await audit.recordStands(store.db, { ...first, hash: "0".repeat(64) })).toBe(false);
  });

  it("keeps a checkpoint once its chain's row exists", async () => {
    await audit.ensureChain(store.db, "checked", genesisHash("checked"));
    await audit.ensureChain(store.db, "checked", genesisHash("checked"));
    await audit.insertCheckpoint(store.db, { chain: "checked", seq: 0, hash: genesisHash("checked"), signed_at: "2026-01-01T00:00:00.000Z", key_id: "k1" });
    expect(await store.db.query("SELECT chain, seq::int AS seq, key_id FROM audit_checkpoints WHERE chain = 'checked'")).toEqual([{ chain: "checked", seq: 0, key_id: "k1" }]);
  });
  it("registers audit keys: one active at a time, oldest first, a registration beside the active key changes nothing", async () => {
    const jwk = (x: string) => ({ kty: "OKP", crv: "Ed25519", x });
    expect(await audit.readSigningKeys(store.db)).toEqual([]);
    await audit.insertSigningKey(store.db, { keyId: "K".repeat(22), publicJwk: jwk("k"), validFrom: null });
    await audit.insertSigningKey(store.db, { keyId: "L".repeat(22), publicJwk: jwk("l"), validFrom: "2026-01-01T00:00:00.000Z" });
    await audit.insertSigningKey(store.db, { keyId: "K".repeat(22), publicJwk: jwk("other"), validFrom: "2026-01-02T00:00:00.000Z" });
    expect(await audit.readSigningKeys(store.db)).toEqual([{ keyId: "K".repeat(22), publicJwk: jwk("k"), validFrom: null, retiredAt: null }]);
  });

  it("retires only the active key, once, and then registers its successor from the same instant", async () => {
    const at = "2026-02-01T10:00:00.250Z";
    await store.db.transaction(async (tx) => {
      expect(await audit.retireSigningKey(tx, "L".repeat(22), at)).toBe(false);
      expect(await audit.retireSigningKey(tx, "K".repeat(22), at)).toBe(true);
      expect(await audit.retireSigningKey(tx, "K".repeat(22), at)).toBe(false);
      await audit.insertSigningKey(tx, { keyId: "M".repeat(22), publicJwk: { kty: "OKP", crv: "Ed25519", x: "m" }, validFrom: at });
    });
    expect((await audit.readSigningKeys(store.db)).map((key) => [key.keyId, key.validFrom, key.retiredAt])).toEqual([
      ["K".repeat(22), null, at],
      ["M".repeat(22), at, null],
    ]);
    // Retirement is the only change: a trigger refuses anything else (SQLSTATE 0A000).
    await expect(store.db.query("UPDATE audit_signing_keys SET retired_at = NULL WHERE key_id = $1", ["K".repeat(22)])).rejects.toMatchObject({ code: "0A000" });
  });

  it("reads every chain's head and its latest checkpoint in one statement, in chain order", async () => {
    await audit.insertCheckpoint(store.db, { chain: "roundtrip", seq: 2, hash: "a".repeat(64), signed_at: "2026-01-01T01:00:00.000Z", key_id: "k1" });
    await audit.insertCheckpoint(store.db, { chain: "roundtrip", seq: 4, hash: "b".repeat(64), signed_at: "2026-01-01T02:00:00.000Z", key_id: "k1" });
    await audit.insertCheckpoint(store.db, { chain: "roundtrip", seq: 4, hash: "b".repeat(64), signed_at: "2026-01-01T03:00:00.500Z", key_id: "k1" });
    const statuses = await audit.readChainStatuses(store.db);
    expect(statuses.map((status) => status.chain)).toEqual([...statuses.map((status) => status.chain)].sort());
    expect(statuses.find((status) => status.chain === "roundtrip")).toEqual({ chain: "roundtrip", headSeq: 5, checkpoint: { seq: 4, signedAt: "2026-01-01T03:00:00.500Z" } });
    expect(statuses.find((status) => status.chain === "fresh")).toEqual({ chain: "fresh", headSeq: 0, checkpoint: undefined });
    expect(statuses.find((status) => status.chain === "checked")).toEqual({ chain: "checked", headSeq: 0, checkpoint: { seq: 0, signedAt: "2026-01-01T00:00:00.000Z" } });
    expect((await audit.readCheckpoints(store.db, "roundtrip")).map((doc) => [doc.seq, doc.signed_at])).toEqual([
      [2, "2026-01-01T01:00:00.000Z"], [4, "2026-01-01T02:00:00.000Z"], [4, "2026-01-01T03:00:00.500Z"],
    ]);
  });

  it("grants a transaction lock at once or not at all, held until the transaction ends", async () => {
    const key = 4_242_001;
    // A second replica: its own connection pool on the server; PGlite serves one process, which always holds it.
    const other = kind === "postgres" ? await store.reopen() : undefined;
    let release: (() => void) | undefined;
    const held = new Promise<void>((resolve) => { release = resolve; });
    let taken: (() => void) | undefined;
    const isTaken = new Promise<void>((resolve) => { taken = resolve; });
    const holder = store.db.transaction(async (tx) => {
      expect(await audit.tryTransactionLock(tx, key)).toBe(true);
      taken?.();
      await held;
    });
    await isTaken;
    if (other !== undefined) {
      expect(await other.transaction((tx) => audit.tryTransactionLock(tx, key))).toBe(false);
    }
    release?.();
    await holder;
    expect(await (other ?? store.db).transaction((tx) => audit.tryTransactionLock(tx, key))).toBe(true);
  });
});

describe.each(storeKinds())("the session repository contract on %s", (kind) => {
  let store: IsolatedStore;
  let sessions: SessionRepository;

  beforeAll(async () => {
    store = await createIsolatedStore(kind);
    await migrated(store.db);
    await store.db.query("INSERT INTO domains (id, issuer, client_id, admins, auditors) VALUES ('acme', 'https://idp.example', 'custos', '{}', '{}')");
    sessions = createSessionRepository(store.db);
  });
  afterAll(async () => {
    await store.dispose();
  });

  const bounds = { source: "192.0.2.7", maxPerSource: 2, now: NOW, purgeBatch: 8 };

  it("hands a login attempt out once, and never after it expired", async () => {
    const attempt = { domain: "acme", returnTo: "/", acrValues: "urn:mfa", maxAge: 300 };
    await sessions.saveLoginAttempt("a1", attempt, NOW + 600, bounds);
    expect(await sessions.takeLoginAttempt("a1", NOW)).toEqual(attempt);
    expect(await sessions.takeLoginAttempt("a1", NOW)).toBeUndefined();
    await sessions.saveLoginAttempt("a2", attempt, NOW + 600, bounds);
    expect(await sessions.takeLoginAttempt("a2", NOW + 600)).toBeUndefined();
  });

  it("keeps at most maxPerSource pending attempts per source, evicting the oldest", async () => {
    const attempt = { domain: "acme", returnTo: "/", acrValues: undefined, maxAge: undefined };
    for (const digest of ["b1", "b2", "b3"]) await sessions.saveLoginAttempt(digest, attempt, NOW + 600, { ...bounds, source: "198.51.100.1" });
    expect(await sessions.takeLoginAttempt("b1", NOW)).toBeUndefined();
    expect(await sessions.takeLoginAttempt("b3", NOW)).toEqual(attempt);
  });

  it("finds an active session until it ends or expires, and deletes it outright", async () => {
    const session = { domain: "acme", subject: "oidc:acme:alice", acr: "urn:mfa", amr: ["pwd", "otp"], authTime: NOW - 5, expiresAt: NOW + 3600 };
    await sessions.saveSession("s1", session);
    expect(await sessions.findActiveSession("s1", NOW)).toEqual(session);
    expect(await sessions.findActiveSession("s1", NOW + 3600)).toBeUndefined();
    await sessions.endSession("s1", NOW);
    expect(await sessions.findActiveSession("s1", NOW)).toBeUndefined();
    await sessions.saveSession("s2", session);
    expect(await sessions.deleteSession("s2", NOW)).toEqual({ domain: "acme", subject: "oidc:acme:alice" });
    expect(await sessions.deleteSession("s2", NOW)).toBeUndefined();
  });

  it("purges what can never be used again: ended and expired sessions, expired attempts", async () => {
    await sessions.saveSession("s3", { domain: "acme", subject: "oidc:acme:bob", acr: undefined, amr: [], authTime: undefined, expiresAt: NOW + 10 });
    const purged = await sessions.purgeExpired(NOW + 10_000);
    expect(purged.sessions).toBeGreaterThanOrEqual(2);
    expect(await store.db.query("SELECT id_digest FROM sessions")).toEqual([]);
    expect(await store.db.query("SELECT id_digest FROM login_attempts WHERE expires_at <= to_timestamp($1)", [NOW + 10_000])).toEqual([]);
  });
});

const SIGNING_KEY_CASES = storeKinds().flatMap((kind) => (["grant", "event"] as const).map((purpose): [SigningKeyPurpose, StoreKind] => [purpose, kind]));

describe.each(SIGNING_KEY_CASES)("the %s signing key repository contract on %s", (purpose, kind) => {
  let store: IsolatedStore;
  let keys: SigningKeyRepository;
  const table = signingKeyTable(purpose);
  const jwk = (x: string) => ({ kty: "OKP", crv: "Ed25519", x, kid: `kid-${x}`, alg: "EdDSA", use: "sig" });

  beforeAll(async () => {
    store = await createIsolatedStore(kind);
    await migrated(store.db);
    keys = createSigningKeyRepository(store.db, purpose);
  });
  afterAll(async () => {
    await store.dispose();
  });

  it("stores a domain's first active key and finds it, still wrapped", async () => {
    expect(await keys.findActive("acme")).toBeUndefined();
    expect(await keys.insertActive({ domain: "acme", kid: "kid-one-1", publicJwk: jwk("one"), wrappedPrivateKey: "wrapped-1" })).toBe(true);
    expect(await keys.findActive("acme")).toEqual({ kid: "kid-one-1", wrappedPrivateKey: "wrapped-1" });
  });

  it("refuses a second active key for the domain, keeping the first", async () => {
    expect(await keys.insertActive({ domain: "acme", kid: "kid-two-2", publicJwk: jwk("two"), wrappedPrivateKey: "wrapped-2" })).toBe(false);
    expect(await keys.findActive("acme")).toEqual({ kid: "kid-one-1", wrappedPrivateKey: "wrapped-1" });
  });

  it("retires the active key, which stays published for the retirement window only", async () => {
    await keys.retireActive("acme");
    expect(await keys.findActive("acme")).toBeUndefined();
    expect(await keys.insertActive({ domain: "acme", kid: "kid-two-2", publicJwk: jwk("two"), wrappedPrivateKey: "wrapped-2" })).toBe(true);
    // Dated apart so that "newest first" does not hang on two inserts' clock readings.
    await store.db.query(`UPDATE ${table} SET created_at = now() - interval '3 hours' WHERE kid = 'kid-one-1'`);
    // Published with what they sign (custos_use), whether or not the stored JWK says so.
    const published = (name: string) => ({ ...jwk(name), custos_use: purpose });
    expect(await keys.publishedKeys("acme", 3600)).toEqual([published("two"), published("one")]);
    await store.db.query(`UPDATE ${table} SET retired_at = now() - interval '2 hours' WHERE kid = 'kid-one-1'`);
    expect(await keys.publishedKeys("acme", 3600)).toEqual([published("two")]);
  });
});

describe.each(storeKinds())("the domain repository contract on %s", (kind) => {
  let store: IsolatedStore;
  let domains: DomainRepository & DomainListing;

  beforeAll(async () => {
    store = await createIsolatedStore(kind);
    await migrated(store.db);
    domains = createDomainRepository(store.db);
  });
  afterAll(async () => {
    await store.dispose();
  });

  it("creates a domain, then replaces it, telling the two apart, and reads back its lists in order", async () => {
    const first = { id: "acme", issuer: "https://idp.example", clientId: "custos", admins: ["oidc:acme:zed", "oidc:acme:amy"], auditors: [] };
    expect(await domains.find("acme")).toBeUndefined();
    expect(await domains.upsert(first)).toBe(true);
    expect(await domains.find("acme")).toEqual(first);
    const second = { ...first, issuer: "https://idp2.example", admins: [], auditors: ["oidc:acme:bob"] };
    expect(await domains.upsert(second)).toBe(false);
    expect(await domains.find("acme")).toEqual(second);
  });

  it("lists domains in id order strictly after a given id, with ISO 8601 times", async () => {
    for (const id of ["list-c", "list-a", "list-b"]) await domains.upsert({ id, issuer: "https://idp.example", clientId: "custos", admins: [], auditors: [] });
    const listed = (await domains.list("list", 10)).filter((domain) => domain.id.startsWith("list-"));
    expect(listed.map((domain) => domain.id)).toEqual(["list-a", "list-b", "list-c"]);
    expect((await domains.list("list-a", 1)).map((domain) => domain.id)).toEqual(["list-b"]);
    expect(listed[0]?.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(await domains.findSummary("list-b")).toEqual(listed[1]);
    expect(await domains.findSummary("missing")).toBeUndefined();
  });
});
