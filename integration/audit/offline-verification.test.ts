import { randomBytes } from "node:crypto";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditKeyring, rotateAuditKey } from "../../src/audit/audit-keys.ts";
import { loadAuditKeyFile } from "../../src/audit/audit-signer.ts";
import { signCheckpoint, signDocument, type SignedCheckpoint } from "../../src/audit/checkpoints.ts";
import { exportMirror } from "../../src/audit/mirror.ts";
import { buildCustos, type Custos } from "../../src/custos.ts";
import { runCli } from "../support/cli.ts";
import { testConfig } from "../support/config.ts";
import { serveOnLoopback, type TestServer } from "../support/http.ts";
import { createIsolatedStore, type IsolatedStore } from "../support/stores.ts";
import { appendEvents, migrated, newSigner, rowsOf } from "./audit-fixtures.ts";

const OPERATOR_TOKEN = randomBytes(32).toString("base64url");

interface Jwks { keys: { kid: string; status: string; valid_from?: string; valid_until?: string; d?: unknown }[] }

/**
 * An auditor who trusts nothing of Custos's: the public keys from GET /v1/audit/keys and a
 * mirror or checkpoint, verified by the CLI with an empty environment (no database, no secret
 * backend, no key file).
 */
describe("offline verification with public keys only", () => {
  let store: IsolatedStore;
  let custos: Custos;
  let server: TestServer;
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), "custos-offline-"));
    store = await createIsolatedStore("pglite");
    custos = await buildCustos({ config: testConfig({ CUSTOS_OPERATOR_TOKEN: OPERATOR_TOKEN }), database: store.db });
    server = await serveOnLoopback(custos.app);
    await appendEvents(custos.audit, "platform", 7);
  });
  afterAll(async () => {
    await server.close();
    await custos.close();
    await store.dispose();
    await rm(scratch, { recursive: true, force: true });
  });

  const fetchKeys = async (): Promise<{ response: Response; jwks: Jwks }> => {
    const response = await fetch(`${server.url}/v1/audit/keys`);
    return { response, jwks: (await response.json()) as Jwks };
  };
  const offline = (args: readonly string[]) => runCli(["audit", "verify", ...args, "--json"], {});
  const saveKeys = async (name: string, jwks: unknown): Promise<string> => {
    const file = path.join(scratch, name);
    await writeFile(file, JSON.stringify(jwks));
    return file;
  };
  const postCheckpoint = async (): Promise<SignedCheckpoint> => {
    const response = await fetch(`${server.url}/v1/domains/platform/audit/checkpoints`, { method: "POST", headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
    expect(response.status).toBe(201);
    return (await response.json()) as SignedCheckpoint;
  };

  it("publishes the active key to anyone, cacheable, with no private part", async () => {
    const { response, jwks } = await fetchKeys();
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("public, max-age=60");
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig", status: "active" });
    expect(jwks.keys[0]?.kid).toBe((await loadAuditKeyFile(custos.config.auditKeyFile, custos.backend)).keyId);
    expect(jwks.keys[0]).not.toHaveProperty("d");
    expect(jwks.keys[0]?.valid_from).toMatch(/Z$/);
  });

  it("verifies a mirror exported from the running server with only its JWKS, in an empty environment; another deployment's keys say bad_signature", async () => {
    const mirror = path.join(scratch, "mirror");
    await exportMirror(store.db, await custos.auditSigner.signingKey(), "platform", mirror);
    const keysFile = await saveKeys("keys.json", (await fetchKeys()).jwks);

    const verified = await offline(["--mirror", mirror, "--keys", keysFile]);
    expect(verified.code, verified.stderr).toBe(0);
    const report = JSON.parse(verified.stdout) as Record<string, unknown>;
    const head = (await rowsOf(store.db, "platform")).at(-1);
    expect(report).toMatchObject({ chain: "platform", ok: true, source: "mirror", failure: null, head: { seq: head?.seq, hash: head?.hash } });

    const byUrl = await offline(["platform", "--mirror", mirror, "--keys", `${server.url}/v1/audit/keys`]);
    expect(byUrl.code, byUrl.stderr).toBe(0);

    const other = await createIsolatedStore("pglite");
    await migrated(other.db);
    const elsewhere = createAuditKeyring({ db: other.db, file: path.join(scratch, "other-key.pem"), create: true });
    try {
      await elsewhere.signingKey();
      const foreign = await saveKeys("foreign.json", await elsewhere.publicJwks());
      const refused = await offline(["--mirror", mirror, "--keys", foreign]);
      expect(refused.code).toBe(1);
      expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, failure: { kind: "bad_signature" } });
    } finally {
      await other.dispose();
    }
  });

  it("names the first bad row of a mirror edited after export, offline", async () => {
    const mirror = path.join(scratch, "edited");
    await exportMirror(store.db, await custos.auditSigner.signingKey(), "platform", mirror);
    const manifest = JSON.parse(await readFile(path.join(mirror, "manifest.json"), "utf8")) as { segments: { file: string }[] };
    const segment = path.join(mirror, manifest.segments[0]?.file ?? "");
    await writeFile(segment, (await readFile(segment, "utf8")).replace('"req-3"', '"req-X"'));
    const keysFile = await saveKeys("keys-edited.json", (await fetchKeys()).jwks);
    const refused = await offline(["--mirror", mirror, "--keys", keysFile]);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, failure: { kind: "hash_mismatch", seq: 3 } });
  });

  it("after a rotation, verifies old and new checkpoints offline; a key not in the JWKS, or the retired key after retirement, is bad_signature", async () => {
    const before = await postCheckpoint();
    const oldKeyCopy = path.join(scratch, "old-key");
    await copyFile(custos.config.auditKeyFile, oldKeyCopy);

    const rotated = await rotateAuditKey({
      db: store.db, file: custos.config.auditKeyFile, wrapper: custos.backend, actor: "operator:test", requestId: "req-rotate",
    });
    expect(rotated.retired_key_id).toBe(before.key_id);
    expect(rotated.key_id).not.toBe(before.key_id);
    expect((await rowsOf(store.db, "platform")).at(-1)).toMatchObject({
      action: "audit.rotate_key", resource: `audit-key:${before.key_id}`, decision: "granted", actor: "operator:test",
      details: { retired_key_id: before.key_id, key_id: rotated.key_id },
    });

    // The running server signs with the new key at once, reading the rotated key file again.
    const after = await postCheckpoint();
    expect(after.key_id).toBe(rotated.key_id);

    const { jwks } = await fetchKeys();
    expect(jwks.keys.map((key) => [key.kid, key.status])).toEqual([[before.key_id, "retired"], [rotated.key_id, "active"]]);
    expect(jwks.keys[0]?.valid_until).toBe(rotated.at);
    expect(jwks.keys[1]?.valid_from).toBe(rotated.at);
    const keysFile = await saveKeys("rotated.json", jwks);

    for (const [name, checkpoint] of [["before", before], ["after", after]] as const) {
      const file = path.join(scratch, `checkpoint-${name}.json`);
      await writeFile(file, JSON.stringify(checkpoint));
      const verified = await offline(["--checkpoint", file, "--keys", keysFile]);
      expect(verified.code, `${name}: ${verified.stdout}${verified.stderr}`).toBe(0);
      expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, source: "checkpoint", checkpoint: { seq: checkpoint.seq } });
    }

    const strangerFile = path.join(scratch, "checkpoint-stranger.json");
    await writeFile(strangerFile, JSON.stringify(await signCheckpoint(store.db, newSigner(), "platform")));
    const stranger = await offline(["--checkpoint", strangerFile, "--keys", keysFile]);
    expect(stranger.code).toBe(1);
    expect(JSON.parse(stranger.stdout)).toMatchObject({ ok: false, failure: { kind: "bad_signature" } });

    // Whoever kept a copy of the retired private key cannot sign anything dated after its retirement.
    const retired = await loadAuditKeyFile(oldKeyCopy, custos.backend);
    const late = await signDocument(retired, {
      format: after.format, chain: after.chain, seq: after.seq, hash: after.hash, at: after.at,
      signed_at: new Date(Date.parse(rotated.at) + 1000).toISOString(),
    });
    const lateFile = path.join(scratch, "checkpoint-late.json");
    await writeFile(lateFile, JSON.stringify(late));
    const lateResult = await offline(["--checkpoint", lateFile, "--keys", keysFile]);
    expect(lateResult.code).toBe(1);
    expect(JSON.parse(lateResult.stdout)).toMatchObject({ ok: false, failure: { kind: "bad_signature" } });
  });

  it("streams events as JSON Lines, the lines of a mirror segment, and pulls incrementally with after", async () => {
    const headers = { authorization: `Bearer ${OPERATOR_TOKEN}` };
    const all = await fetch(`${server.url}/v1/domains/platform/audit/events?format=jsonl`, { headers });
    expect(all.status).toBe(200);
    expect(all.headers.get("content-type")).toContain("application/jsonl");
    const text = await all.text();
    const lines = text.split("\n").filter((line) => line !== "");
    const mirror = path.join(scratch, "mirror-jsonl");
    await exportMirror(store.db, await custos.auditSigner.signingKey(), "platform", mirror);
    const manifest = JSON.parse(await readFile(path.join(mirror, "manifest.json"), "utf8")) as { segments: { file: string }[] };
    const segment = await readFile(path.join(mirror, manifest.segments[0]?.file ?? ""), "utf8");
    expect(segment.startsWith(text)).toBe(true);
    expect((JSON.parse(lines[0] ?? "{}") as { seq: number }).seq).toBe(1);

    const later = await (await fetch(`${server.url}/v1/domains/platform/audit/events?format=jsonl&after=3&limit=2`, { headers })).text();
    expect(later.split("\n").filter((line) => line !== "").map((line) => (JSON.parse(line) as { seq: number }).seq)).toEqual([4, 5]);

    const bad = await fetch(`${server.url}/v1/domains/platform/audit/events?format=xml`, { headers });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: "invalid_request" });
  });

  it("refuses offline verification with nothing to verify, or keys that are not public Ed25519 keys under their own kid", async () => {
    const nothing = await runCli(["audit", "verify", "--keys", path.join(scratch, "keys.json")], {});
    expect(nothing.code).toBe(2);
    const { jwks } = await fetchKeys();
    const lying = await saveKeys("lying.json", { keys: jwks.keys.map((key) => ({ ...key, kid: "AAAAAAAAAAAAAAAAAAAAAA" })) });
    const refused = await runCli(["audit", "verify", "--mirror", path.join(scratch, "mirror"), "--keys", lying], {});
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("kid is not the key's id");
  });
});
