import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRecords } from "../../src/audit/audit-store.ts";
import { issueNodeKey } from "../../src/nodes/node-keys.ts";
import { createNodeRepository } from "../../src/nodes/node-repo.ts";
import { newRotationRequestBody, openNewNsk } from "../../src/nodes/nsk-rotation.ts";
import { deriveBearerSecret } from "../../src/nodes/nsk.ts";
import type { ApiAnswer } from "../support/api-client.ts";
import { runCli } from "../support/cli.ts";
import { nodeBearer, nodeWrapKey, startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";
import { storeKinds } from "../support/stores.ts";

interface NodeKey {
  readonly node_id: string;
  readonly kid: string;
  readonly nsk: string;
  /** The node's domain: a test's own. */
  readonly domain: string;
}

const bearerOf = nodeBearer;
const wrapKeyOf = nodeWrapKey;

/**
 * Rotating an NSK (docs/nsk-rotation.md) over HTTP: the bearer alone is never enough, the new
 * NSK never travels in clear, a request is good once, only the current key rotates, and
 * nothing changes unless the audit record has committed. Each node is enrolled in a domain of
 * its own, so the tests run in any order.
 */
describe.each(storeKinds())("NSK rotation over HTTP (%s)", (kind) => {
  let env: CustosWithProvider;

  const nowSeconds = () => Math.floor(Date.now() / 1000);
  const rotate = (key: NodeKey, body: unknown) => env.api.rotateNsk(bearerOf(key), key.node_id, body);
  const proofFor = (key: NodeKey) => newRotationRequestBody(wrapKeyOf(key), key.node_id, key.kid, nowSeconds());
  const keysOf = (key: NodeKey) => createNodeRepository(env.custos.db).listKeys(key.node_id);
  /** The audit records of the requests that these answers answered. */
  const eventsOf = async (key: NodeKey, ...answers: ApiAnswer<unknown>[]) => {
    const ids = new Set(answers.map((answer) => answer.requestId));
    return (await readRecords(env.custos.db, key.domain, 0, 1_000_000)).filter((e) => ids.has(e.request_id));
  };
  const readSecret = (key: NodeKey) => env.api.readSecret(bearerOf(key), key.node_id, "db-password");

  /** A node in a fresh domain, granted that domain's secret `db-password`. */
  async function enroll(name: string): Promise<NodeKey> {
    const tenant = await env.freshTenant({ nodes: [name] });
    const node = tenant.nodes[0];
    if (node === undefined) throw new Error("one node was enrolled");
    expect((await env.api.writeSecret(tenant.admin, tenant.domain, "db-password", { value: "s3cret-value" })).status).toBe(201);
    expect((await env.api.addReader(tenant.admin, tenant.domain, "db-password", node.node_id)).status).toBe(204);
    return { ...node, domain: tenant.domain };
  }

  /** A successful rotation, opened the way the node opens it. */
  async function rotated(key: NodeKey): Promise<NodeKey> {
    const response = await rotate(key, proofFor(key));
    expect(response.status, response.text).toBe(201);
    const body = response.body();
    const nsk = await openNewNsk(body.jwe, wrapKeyOf(key), key.kid, body.kid);
    return { node_id: key.node_id, kid: body.kid, nsk: nsk.toString("base64url"), domain: key.domain };
  }

  beforeAll(async () => {
    env = await startCustosWithProvider({ kind });
  });
  afterAll(async () => {
    await env.close();
  });

  it("refuses the bearer alone (no body, or a body without proof) with 401 rotation_proof_invalid, audited, and changes nothing", async () => {
    const node = await enroll("bearer-only");
    const before = await keysOf(node);
    const bare = await rotate(node, undefined);
    expect(bare.status).toBe(401);
    expect(bare.headers.get("www-authenticate")).toBe('Custos-NSK-Proof realm="custos", error="invalid_proof"');
    expect(bare.problem).toMatchObject({ code: "rotation_proof_invalid" });
    const empty = await rotate(node, {});
    expect(empty.status).toBe(401);
    expect(await keysOf(node)).toEqual(before);
    expect(await eventsOf(node, bare)).toMatchObject([{ action: "node.rotate", decision: "denied", reason: "proof_missing", actor: `node:${node.node_id}` }]);
  });

  it("refuses a wrong MAC (another key's, or the bearer's) and a stale timestamp with 401, and changes nothing", async () => {
    const node = await enroll("wrong-mac");
    const other = await enroll("other");
    const before = await keysOf(node);
    const forged = newRotationRequestBody(wrapKeyOf(other), node.node_id, node.kid, nowSeconds());
    const bearerKeyed = newRotationRequestBody(deriveBearerSecret(Buffer.from(node.nsk, "base64url")), node.node_id, node.kid, nowSeconds());
    const stale = newRotationRequestBody(wrapKeyOf(node), node.node_id, node.kid, nowSeconds() - 3600);
    const answers = new Map<string, ApiAnswer<unknown>>();
    for (const [body, label, reason] of [[forged, "forged", "proof_mismatch"], [bearerKeyed, "bearer-keyed", "proof_mismatch"], [stale, "stale", "proof_stale"]] as const) {
      const response = await rotate(node, body);
      answers.set(label, response);
      expect(response.status).toBe(401);
      expect(response.problem).toMatchObject({ code: "rotation_proof_invalid" });
      const events = await eventsOf(node, response);
      // Identical denials within a window are folded into one summary record.
      if (events.length > 0) expect(events).toMatchObject([{ decision: "denied", reason }]);
    }
    const answerTo = (label: string) => answers.get(label) ?? expect.fail(`no answer to ${label}`);
    expect(await eventsOf(node, answerTo("forged"))).toMatchObject([{ decision: "denied", reason: "proof_mismatch" }]);
    expect(await eventsOf(node, answerTo("stale"))).toMatchObject([{ decision: "denied", reason: "proof_stale" }]);
    expect(await keysOf(node)).toEqual(before);
  });

  it("returns the new NSK only as a JWE under the current wrap key, audits the rotation, and the new key works", async () => {
    const node = await enroll("rotating");
    const response = await rotate(node, proofFor(node));
    expect(response.status).toBe(201);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const { text } = response;
    const body = JSON.parse(text) as { kid: string; previous_kid: string; previous_retires_at: string; jwe: string };
    expect(Object.keys(body).sort()).toEqual(["jwe", "kid", "previous_kid", "previous_retires_at"]);
    expect(body.previous_kid).toBe(node.kid);
    const nsk = await openNewNsk(body.jwe, wrapKeyOf(node), node.kid, body.kid);
    // Neither the NSK nor anything derived from it is readable in the answer.
    const next: NodeKey = { node_id: node.node_id, kid: body.kid, nsk: nsk.toString("base64url"), domain: node.domain };
    for (const needle of [next.nsk, nsk.toString("base64"), nsk.toString("hex"), bearerOf(next).split(".")[2] ?? "", wrapKeyOf(next).toString("base64url")]) {
      expect(text.includes(needle)).toBe(false);
    }
    expect(await eventsOf(node, response)).toMatchObject([
      { action: "node.rotate", decision: "granted", reason: "ok", details: { previous_kid: node.kid, kid: body.kid } },
    ]);
    expect((await readSecret(next)).status).toBe(200);
    // The previous key keeps reading through its grace period.
    expect((await readSecret(node)).status).toBe(200);
    expect(await keysOf(node)).toMatchObject([{ kid: body.kid, retiresAt: undefined }, { kid: node.kid, retiresAt: Math.floor(Date.parse(body.previous_retires_at) / 1000) }]);
  });

  it("refuses a key in its grace period with 403 kid_superseded: an old key cannot evict the current one", async () => {
    const node = await enroll("superseded");
    const next = await rotated(node);
    const before = await keysOf(node);
    const response = await rotate(node, proofFor(node));
    expect(response.status).toBe(403);
    expect(response.problem).toMatchObject({ code: "kid_superseded" });
    expect(await eventsOf(node, response)).toMatchObject([{ decision: "denied", reason: "kid_superseded" }]);
    expect(await keysOf(node)).toEqual(before);
    expect((await readSecret(next)).status).toBe(200);
    // The store refuses it too, whatever the route checked before: the current key stays current.
    const nodes = createNodeRepository(env.custos.db);
    const intruder = await issueNodeKey(env.custos.backend, node.node_id);
    expect(await nodes.rotateKey(node.kid, intruder.record, nowSeconds() + 10)).toBe(false);
    expect(await keysOf(node)).toEqual(before);
  });

  it("lets exactly one of two concurrent rotations by the same key win", async () => {
    const node = await enroll("racing");
    const outcomes = await Promise.all([rotate(node, proofFor(node)), rotate(node, proofFor(node))]);
    expect(outcomes.map((r) => r.status).sort()).toEqual([201, 403]);
    const keys = await keysOf(node);
    expect(keys.filter((k) => k.retiresAt === undefined)).toHaveLength(1);
    expect(keys).toHaveLength(2);
  });

  it("refuses a replayed request, even one whose first sending failed, and changes nothing when the audit store fails", async () => {
    const node = await enroll("replayed");
    const before = await keysOf(node);
    const captured = proofFor(node);
    await env.custos.db.query("ALTER TABLE audit_events ADD CONSTRAINT test_no_rotations CHECK (action <> 'node.rotate' OR decision <> 'granted') NOT VALID");
    try {
      const failed = await rotate(node, captured);
      expect(failed.status).toBe(503);
      expect(failed.problem).toMatchObject({ code: "audit_unavailable" });
      expect(failed.json).not.toHaveProperty("jwe");
      expect(await keysOf(node)).toEqual(before);
    } finally {
      await env.custos.db.query("ALTER TABLE audit_events DROP CONSTRAINT test_no_rotations");
    }
    const replayed = await rotate(node, captured);
    expect(replayed.status).toBe(401);
    expect(replayed.problem).toMatchObject({ code: "rotation_proof_invalid", detail: "this nonce was already used" });
    expect(await eventsOf(node, replayed)).toMatchObject([{ decision: "denied", reason: "nonce_replayed" }]);
    expect(await keysOf(node)).toEqual(before);
    // A fresh request from the node itself still rotates.
    await rotated(node);
  });

  it("answers the 4th rotation within the hour with 429 rate_limited, audited, and changes nothing", async () => {
    let key = await enroll("budget");
    for (let i = 0; i < 3; i += 1) key = await rotated(key);
    const before = await keysOf(key);
    const limited = await rotate(key, proofFor(key));
    expect(limited.status).toBe(429);
    expect(limited.headers.get("ratelimit-policy")).toMatch(/"nsk-rotations-per-node"; q=3; w=3600/);
    expect(limited.problem).toMatchObject({ code: "rate_limited" });
    expect(await eventsOf(key, limited)).toMatchObject([{ decision: "denied", reason: "rate_limited_node" }]);
    expect(await keysOf(key)).toEqual(before);
  });

  it("custos node rotate rewrites the NSK file atomically with mode 0600 and prints the new kid", async () => {
    const node = await enroll("cli");
    const dir = await mkdtemp(path.join(os.tmpdir(), "custos-rotate-"));
    try {
      const nskFile = path.join(dir, "nsk");
      await writeFile(nskFile, `${node.nsk}\n`, { mode: 0o644 });
      const args = (kid: string) => ["node", "rotate", "--url", env.server.url, "--node-id", node.node_id, "--kid", kid, "--nsk-file", nskFile];
      const result = await runCli(args(node.kid));
      expect(result.code, result.stderr).toBe(0);
      const newKid = result.stdout.trim();
      expect(newKid).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
      expect(newKid).not.toBe(node.kid);
      expect(result.stdout).not.toContain(node.nsk);
      const written = (await readFile(nskFile, "utf8")).trim();
      expect(written).not.toBe(node.nsk);
      expect((await stat(nskFile)).mode & 0o777).toBe(0o600);
      expect(await readdir(dir)).toEqual(["nsk"]);
      expect(await keysOf(node)).toMatchObject([{ kid: newKid, retiresAt: undefined }, { kid: node.kid }]);
      const fetched = await runCli(["node", "fetch", "--url", env.server.url, "--node-id", node.node_id, "--kid", newKid, "--nsk-file", nskFile, "db-password"]);
      expect(fetched.code, fetched.stderr).toBe(0);
      expect(fetched.stdout).toBe("s3cret-value");
      // The superseded kid is refused, and a refusal leaves the file as it was.
      const refused = await runCli(args(node.kid));
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("HTTP 401 invalid_token");
      expect((await readFile(nskFile, "utf8")).trim()).toBe(written);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
