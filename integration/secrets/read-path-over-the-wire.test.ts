import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli.ts";
import { readRecords } from "../../src/audit/audit-store.ts";
import { newRotationRequestBody, openNewNsk } from "../../src/nodes/nsk-rotation.ts";
import { unwrapOnNode } from "../../src/secrets/wrap-for-node.ts";
import { type ApiAnswer, type EnrolledNode } from "../support/api-client.ts";
import { nodeBearer, nodeWrapKey, startCustosWithProvider, type CustosWithProvider, type Tenant } from "../support/custos-with-provider.ts";
import { storeKinds } from "../support/stores.ts";
import { startOpenBaoDouble, type OpenBaoDouble } from "./openbao-double.ts";

const SECRET_VALUE = "pg-pass: Zq8!v✓ never-logged-7c1f";
const SECRET = "db-password";

/** A test's own domain: secret `db-password` written, `reader` granted it, `other` not. */
interface ReadPathTenant extends Tenant {
  readonly reader: EnrolledNode;
  readonly other: EnrolledNode;
}

/**
 * Issue 6 over the wire: the secret read path in DESIGN.md's order, with Custos using the
 * OpenBao adapter against the OpenBao double (so the backend can be sealed mid-test). Each
 * test has a domain and nodes of its own, so the tests run in any order.
 */
describe.each(storeKinds())("reading a secret over HTTP (%s)", (kind) => {
  let env: CustosWithProvider;
  let bao: OpenBaoDouble;

  const start = () => startCustosWithProvider({ kind, env: { OPENBAO_ADDR: bao.addr, OPENBAO_TOKEN: bao.token } });

  async function tenantWithSecret(on: CustosWithProvider = env): Promise<ReadPathTenant> {
    const tenant = await on.freshTenant({ nodes: ["reader", "other"] });
    const [reader, other] = tenant.nodes;
    if (reader === undefined || other === undefined) throw new Error("two nodes were enrolled");
    expect((await on.api.writeSecret(tenant.admin, tenant.domain, SECRET, { value: SECRET_VALUE })).status).toBe(201);
    expect((await on.api.addReader(tenant.admin, tenant.domain, SECRET, reader.node_id)).status).toBe(204);
    return { ...tenant, reader, other };
  }
  const read = (node: EnrolledNode, bearer = nodeBearer(node), name = SECRET, on: CustosWithProvider = env) => on.api.readSecret(bearer, node.node_id, name);
  /** The audit records of one request, on its domain's chain or the platform's. */
  const eventsOf = async (tenant: Tenant, answer: ApiAnswer<unknown>) =>
    (await readRecords(env.custos.db, tenant.domain, 0, 1_000_000))
      .concat(await readRecords(env.custos.db, "platform", 0, 1_000_000))
      .filter((e) => e.request_id === answer.requestId);

  beforeAll(async () => {
    bao = await startOpenBaoDouble();
    bao.createTransitKey("custos", { derived: true }); // what `custos backend init` does on a first install
    env = await start();
  });
  afterAll(async () => {
    await env.close();
    await bao.stop();
  });

  it("stores a secret as version 1, answers enrolment no-store, and refuses a misspelt member with 400 naming it", async () => {
    const tenant = await env.freshTenant();
    const enrolled = await env.api.enroll(tenant.admin, tenant.domain, "web-1");
    expect(enrolled.status).toBe(201);
    expect(enrolled.headers.get("cache-control")).toBe("no-store");
    const written = await env.api.writeSecret(tenant.admin, tenant.domain, SECRET, { value: SECRET_VALUE });
    expect(written.status).toBe(201);
    expect(written.body()).toEqual({ name: SECRET, version: 1 });
    const misspelt = await env.api.writeSecret(tenant.admin, tenant.domain, SECRET, { value: SECRET_VALUE, vaule: "x" });
    expect(misspelt.status).toBe(400);
    expect(misspelt.problem).toMatchObject({ code: "invalid_request", detail: "unknown member(s): vaule" });
  });

  it("releases the secret to its reader as a JWE under the node's wrap_key, with both headers, after auditing it", async () => {
    const tenant = await tenantWithSecret();
    const { reader } = tenant;
    const response = await read(reader);
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("x-custos-secret-kid")).toBe(reader.kid);
    const body = response.body();
    expect(body).toMatchObject({ name: SECRET, version: 1 });
    const plaintext = await unwrapOnNode(body.jwe, nodeWrapKey(reader), reader.kid);
    expect(plaintext.toString("utf8")).toBe(SECRET_VALUE);
    expect(await eventsOf(tenant, response)).toMatchObject([{ action: "secret.read", decision: "granted", actor: `node:${reader.node_id}` }]);
  });

  it("serves the version Custos recorded, not whatever the backend calls latest", async () => {
    const { domain, reader } = await tenantWithSecret();
    // A version Custos never recorded (as a stale standby or a write behind Custos's back
    // would present it): the node still gets the value of the recorded version.
    await env.custos.backend.writeSecret(domain, SECRET, Buffer.from("not what Custos recorded"));
    const response = await read(reader);
    expect(response.status).toBe(200);
    const body = response.body();
    expect(body.version).toBe(1);
    const plaintext = await unwrapOnNode(body.jwe, nodeWrapKey(reader), reader.kid);
    expect(plaintext.toString("utf8")).toBe(SECRET_VALUE);
  });

  it("custos node fetch derives the bearer, decrypts and prints the value; a refusal exits 1 naming its code", async () => {
    const { reader, other } = await tenantWithSecret();
    const dir = await mkdtemp(path.join(os.tmpdir(), "custos-node-"));
    try {
      const nskFile = path.join(dir, "nsk");
      await writeFile(nskFile, `${reader.nsk}\n`, { mode: 0o600 });
      const args = (node: EnrolledNode) => ["node", "fetch", "--url", env.server.url, "--node-id", node.node_id, "--kid", node.kid, "--nsk-file", nskFile, SECRET];
      const fetched = await runCli(args(reader));
      expect(fetched.code, fetched.stderr).toBe(0);
      expect(fetched.stdout).toBe(SECRET_VALUE);
      await writeFile(nskFile, other.nsk);
      const refused = await runCli(args(other));
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("HTTP 403 permission_denied");
      const usage = await runCli(["node", "fetch", "--url", env.server.url, "--node-id", "nope", "--kid", reader.kid, "--nsk-file", nskFile, SECRET]);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toContain("node id");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("answers another node 403 permission_denied, identical for a secret that does not exist", async () => {
    const tenant = await tenantWithSecret();
    const denied = await read(tenant.other);
    const missing = await read(tenant.other, undefined, "no-such-secret");
    expect(denied.status).toBe(403);
    expect(missing.status).toBe(403);
    const strip = (body: unknown) => ({ ...(body as Record<string, unknown>), request_id: undefined });
    expect(strip(denied.problem)).toEqual(strip(missing.problem));
    expect(await eventsOf(tenant, denied)).toMatchObject([{ decision: "denied", reason: "permission_denied" }]);
  });

  it("refuses a revoked reader on its very next read, and serves it again once granted", async () => {
    const { admin, domain, reader } = await tenantWithSecret();
    // Allowed first, so the server remembers the allow (read-decisions.ts): the revoke must still win.
    expect((await read(reader)).status).toBe(200);
    expect((await env.api.removeReader(admin, domain, SECRET, reader.node_id)).status).toBe(204);
    expect((await read(reader)).status).toBe(403);
    expect((await env.api.addReader(admin, domain, SECRET, reader.node_id)).status).toBe(204);
    expect((await read(reader)).status).toBe(200);
  });

  it("refuses a quarantined node with 403 node_quarantined until the quarantine is lifted", async () => {
    const tenant = await tenantWithSecret();
    const { admin, domain, reader } = tenant;
    expect((await env.api.quarantine(admin, domain, reader.node_id)).status).toBe(204);
    const refused = await read(reader);
    expect(refused.status).toBe(403);
    expect(refused.problem).toMatchObject({ code: "node_quarantined" });
    expect(await eventsOf(tenant, refused)).toMatchObject([{ decision: "denied", reason: "node_quarantined" }]);
    expect((await env.api.liftQuarantine(admin, domain, reader.node_id)).status).toBe(204);
    expect((await read(reader)).status).toBe(200);
  });

  it("refuses node A's bearer on node B's path with 403 node_mismatch", async () => {
    const tenant = await tenantWithSecret();
    const response = await read(tenant.other, nodeBearer(tenant.reader));
    expect(response.status).toBe(403);
    expect(response.problem).toMatchObject({ code: "node_mismatch" });
    expect(await eventsOf(tenant, response)).toMatchObject([{ decision: "denied", reason: "node_mismatch" }]);
  });

  it.each([
    ["not an nsk bearer", () => "eyJhbGciOiJub25lIn0.e30."],
    ["a wrong secret for a real kid", (node: EnrolledNode) => `nsk.${node.kid}.${"A".repeat(43)}`],
    ["an unknown kid", () => `nsk.unknownkid123.${"A".repeat(43)}`],
  ])("refuses %s with 401 invalid_token", async (_label, token) => {
    const { reader } = await tenantWithSecret();
    const response = await read(reader, token(reader));
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toContain('error="invalid_token"');
    expect(response.problem).toMatchObject({ code: "invalid_token" });
  });

  it("keeps the old kid working through the grace period after the node rotates its NSK", async () => {
    const { reader } = await tenantWithSecret();
    const wrapKey = nodeWrapKey(reader);
    const proof = newRotationRequestBody(wrapKey, reader.node_id, reader.kid, Math.floor(Date.now() / 1000));
    const rotated = await env.api.rotateNsk(nodeBearer(reader), reader.node_id, proof);
    expect(rotated.status).toBe(201);
    const answer = rotated.body();
    const next = { kid: answer.kid, nsk: (await openNewNsk(answer.jwe, wrapKey, reader.kid, answer.kid)).toString("base64url") };
    expect(next.kid).not.toBe(reader.kid);
    const fresh = await read(reader, nodeBearer(next));
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get("x-custos-secret-kid")).toBe(next.kid);
    expect((await read(reader)).status).toBe(200);
  });

  it("answers the 61st read in a minute with 429, Retry-After and RateLimit headers, audited as one summarised run", async () => {
    const { domain, reader } = await tenantWithSecret();
    for (let i = 0; i < 60; i += 1) expect((await read(reader)).status).toBe(200);
    const limited = await read(reader);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(limited.headers.get("ratelimit")).toMatch(/"secret-reads-per-node"; r=0; t=\d+/);
    expect(limited.headers.get("ratelimit-policy")).toMatch(/"secret-reads-per-node"; q=60; w=60/);
    expect(limited.problem).toMatchObject({ code: "rate_limited" });
    for (let i = 0; i < 20; i += 1) expect((await read(reader)).status).toBe(429);
    const rateLimited = (await readRecords(env.custos.db, domain, 0, 1_000_000)).filter((e) => e.actor === `node:${reader.node_id}` && e.reason === "rate_limited_node");
    expect(rateLimited).toHaveLength(1);
  });

  it("releases nothing when the audit store fails: 503 audit_unavailable", async () => {
    const { reader, other } = await tenantWithSecret();
    await env.custos.db.query("ALTER TABLE audit_events ADD CONSTRAINT test_no_reads CHECK (action <> 'secret.read' OR decision <> 'granted') NOT VALID");
    try {
      const response = await read(other); // warm: this node is denied (audited as denied, allowed by the constraint)
      expect(response.status).toBe(403);
      const refused = await read(reader);
      expect(refused.status).toBe(503);
      expect(refused.problem).toMatchObject({ code: "audit_unavailable" });
      expect(refused.json).not.toHaveProperty("jwe");
    } finally {
      await env.custos.db.query("ALTER TABLE audit_events DROP CONSTRAINT test_no_reads");
    }
  });

  it("releases nothing when the backend is sealed: 503 secret_backend_unavailable, and /readyz says so", async () => {
    const { reader } = await tenantWithSecret();
    bao.seal();
    try {
      // The value is read from the backend on every request, whatever the wrap-key cache holds.
      const response = await read(reader);
      expect(response.status).toBe(503);
      expect(response.problem).toMatchObject({ code: "secret_backend_unavailable" });
      expect(response.json).not.toHaveProperty("jwe");
      expect((await env.api.readyz()).status).toBe(503);
    } finally {
      bao.unseal();
    }
    expect((await read(reader)).status).toBe(200);
  });

  it("leaves the plaintext and the NSKs in no log line, no database row and no response body but the JWE's", async () => {
    const bodies: string[] = [];
    const tenant = await tenantWithSecret();
    const { reader, other } = tenant;
    // The journey again, keeping every body: a granted read, a refused one, a rotation, a CLI fetch.
    for (const answer of [await read(reader), await read(other), await read(reader, nodeBearer(other))]) bodies.push(answer.text);
    const rotated = await env.api.rotateNsk(nodeBearer(reader), reader.node_id, newRotationRequestBody(nodeWrapKey(reader), reader.node_id, reader.kid, Math.floor(Date.now() / 1000)));
    bodies.push(rotated.text);
    const tables = await env.custos.db.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
    let rows = "";
    for (const { table_name: table } of tables) rows += JSON.stringify(await env.custos.db.query(`SELECT * FROM ${table}`));
    const haystacks = { logs: env.logs.lines().join("\n"), rows, bodies: bodies.join("\n") };
    const needles = [SECRET_VALUE, Buffer.from(SECRET_VALUE).toString("base64"), reader.nsk, other.nsk, nodeBearer(reader).split(".")[2] ?? ""];
    for (const [where, haystack] of Object.entries(haystacks)) {
      for (const needle of needles) expect(haystack.includes(needle), `${where} contains a secret`).toBe(false);
    }
  });

  it("releases nothing when SpiceDB is unreachable: 503 authz_unavailable", async () => {
    // A Custos of this test's own: closing its authorizer leaves the shared one alone.
    const own = await start();
    try {
      const { reader } = await tenantWithSecret(own);
      (own.custos.authorizer as unknown as { close(): void }).close();
      const response = await read(reader, undefined, SECRET, own);
      expect(response.status).toBe(503);
      expect(response.problem).toMatchObject({ code: "authz_unavailable" });
    } finally {
      await own.close();
    }
  });
});
