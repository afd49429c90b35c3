import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli.ts";
import { readRecords } from "../../src/audit/audit-store.ts";
import { newRotationRequestBody, openNewNsk } from "../../src/nodes/nsk-rotation.ts";
import { deriveBearerSecret, deriveWrapKey, formatNodeBearer } from "../../src/nodes/nsk.ts";
import { unwrapOnNode } from "../../src/secrets/wrap-for-node.ts";
import { startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";
import { startOpenBaoDouble, type OpenBaoDouble } from "./openbao-double.ts";

const SECRET_VALUE = "pg-pass: Zq8!v✓ never-logged-7c1f";

interface EnrolledNode {
  readonly node_id: string;
  readonly kid: string;
  readonly nsk: string;
}

function bearerOf(node: { kid: string; nsk: string }): string {
  return formatNodeBearer(node.kid, deriveBearerSecret(Buffer.from(node.nsk, "base64url")));
}

/**
 * Issue 6 over the wire: the secret read path in DESIGN.md's order, with Custos using the
 * OpenBao adapter against the OpenBao double (so the backend can be sealed mid-test).
 */
describe("reading a secret over HTTP", () => {
  let env: CustosWithProvider;
  let bao: OpenBaoDouble;
  let admin: string;
  let nodeA: EnrolledNode;
  let nodeB: EnrolledNode;
  const bodies: string[] = [];
  const serverRequestIds = new Map<string, string>();

  async function call(method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const response = await fetch(`${env.server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.clone().text();
    bodies.push(text);
    // The server makes every request id; a test's own X-Request-Id labels the request it sent.
    const label = headers["x-request-id"];
    if (label !== undefined) serverRequestIds.set(label, response.headers.get("x-request-id") ?? "");
    return response;
  }
  const read = (node: { node_id: string }, bearer: string, name = "db-password", requestId?: string) =>
    call("GET", `/v1/nodes/${node.node_id}/secrets/${name}`, bearer, undefined, requestId === undefined ? {} : { "x-request-id": requestId });
  const eventsFor = async (requestId: string) =>
    (await readRecords(env.custos.db, "acme", 0, 1_000_000)).concat(await readRecords(env.custos.db, "platform", 0, 1_000_000)).filter((e) => e.request_id === serverRequestIds.get(requestId));
  async function enroll(name: string): Promise<EnrolledNode> {
    const response = await call("POST", "/v1/domains/acme/nodes", admin, { name });
    expect(response.status).toBe(201);
    expect(response.headers.get("cache-control")).toBe("no-store");
    return (await response.json()) as EnrolledNode;
  }

  beforeAll(async () => {
    bao = await startOpenBaoDouble();
    bao.createTransitKey("custos", { derived: true }); // what `custos backend init` does on a first install
    env = await startCustosWithProvider({ env: { OPENBAO_ADDR: bao.addr, OPENBAO_TOKEN: bao.token } });
    admin = await env.idToken("alice", "mfa");
    nodeA = await enroll("web-1");
    nodeB = await enroll("web-2");
    const written = await call("PUT", "/v1/domains/acme/secrets/db-password", admin, { value: SECRET_VALUE });
    expect(written.status).toBe(201);
    expect(await written.json()).toEqual({ name: "db-password", version: 1 });
    const misspelt = await call("PUT", "/v1/domains/acme/secrets/db-password", admin, { value: SECRET_VALUE, vaule: "x" });
    expect(misspelt.status).toBe(400);
    expect(await misspelt.json()).toMatchObject({ code: "invalid_request", detail: "unknown member(s): vaule" });
    expect((await call("PUT", `/v1/domains/acme/secrets/db-password/readers/${nodeA.node_id}`, admin)).status).toBe(204);
  });
  afterAll(async () => {
    await env.close();
    await bao.stop();
  });

  it("releases the secret to its reader as a JWE under the node's wrap_key, with both headers, after auditing it", async () => {
    const response = await read(nodeA, bearerOf(nodeA), "db-password", "read-granted");
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("x-custos-secret-kid")).toBe(nodeA.kid);
    const body = (await response.json()) as { name: string; version: number; jwe: string };
    expect(body).toMatchObject({ name: "db-password", version: 1 });
    const plaintext = await unwrapOnNode(body.jwe, deriveWrapKey(Buffer.from(nodeA.nsk, "base64url")), nodeA.kid);
    expect(plaintext.toString("utf8")).toBe(SECRET_VALUE);
    expect(await eventsFor("read-granted")).toMatchObject([{ action: "secret.read", decision: "granted", actor: `node:${nodeA.node_id}` }]);
  });

  it("serves the version Custos recorded, not whatever the backend calls latest", async () => {
    // A version Custos never recorded (as a stale standby or a write behind Custos's back
    // would present it): the node still gets the value of the recorded version.
    await env.custos.backend.writeSecret("acme", "db-password", Buffer.from("not what Custos recorded"));
    const response = await read(nodeA, bearerOf(nodeA));
    expect(response.status).toBe(200);
    const body = (await response.json()) as { version: number; jwe: string };
    expect(body.version).toBe(1);
    const plaintext = await unwrapOnNode(body.jwe, deriveWrapKey(Buffer.from(nodeA.nsk, "base64url")), nodeA.kid);
    expect(plaintext.toString("utf8")).toBe(SECRET_VALUE);
  });

  it("custos node fetch derives the bearer, decrypts and prints the value; a refusal exits 1 naming its code", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "custos-node-"));
    try {
      const nskFile = path.join(dir, "nsk");
      await writeFile(nskFile, `${nodeA.nsk}\n`, { mode: 0o600 });
      const args = (node: EnrolledNode, name = "db-password") => ["node", "fetch", "--url", env.server.url, "--node-id", node.node_id, "--kid", node.kid, "--nsk-file", nskFile, name];
      const fetched = await runCli(args(nodeA));
      expect(fetched.code, fetched.stderr).toBe(0);
      expect(fetched.stdout).toBe(SECRET_VALUE);
      await writeFile(nskFile, nodeB.nsk);
      // Another secret than the next test's: identical denials within a window are summarised.
      const refused = await runCli(args(nodeB, "not-granted"));
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("HTTP 403 permission_denied");
      const usage = await runCli(["node", "fetch", "--url", env.server.url, "--node-id", "nope", "--kid", nodeA.kid, "--nsk-file", nskFile, "db-password"]);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toContain("node id");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("answers another node 403 permission_denied, identical for a secret that does not exist", async () => {
    const denied = await read(nodeB, bearerOf(nodeB), "db-password", "read-denied");
    const missing = await read(nodeB, bearerOf(nodeB), "no-such-secret", "read-missing");
    expect(denied.status).toBe(403);
    expect(missing.status).toBe(403);
    const strip = (body: Record<string, unknown>) => ({ ...body, request_id: undefined });
    expect(strip((await denied.json()) as Record<string, unknown>)).toEqual(strip((await missing.json()) as Record<string, unknown>));
    expect(await eventsFor("read-denied")).toMatchObject([{ decision: "denied", reason: "permission_denied" }]);
  });

  it("refuses a revoked reader on its very next read, and serves it again once granted", async () => {
    expect((await call("DELETE", `/v1/domains/acme/secrets/db-password/readers/${nodeA.node_id}`, admin)).status).toBe(204);
    expect((await read(nodeA, bearerOf(nodeA))).status).toBe(403);
    expect((await call("PUT", `/v1/domains/acme/secrets/db-password/readers/${nodeA.node_id}`, admin)).status).toBe(204);
    expect((await read(nodeA, bearerOf(nodeA))).status).toBe(200);
  });

  it("refuses a quarantined node with 403 node_quarantined until the quarantine is lifted", async () => {
    expect((await call("POST", `/v1/domains/acme/nodes/${nodeA.node_id}/quarantine`, admin)).status).toBe(204);
    const refused = await read(nodeA, bearerOf(nodeA), "db-password", "read-quarantined");
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: "node_quarantined" });
    expect(await eventsFor("read-quarantined")).toMatchObject([{ decision: "denied", reason: "node_quarantined" }]);
    expect((await call("DELETE", `/v1/domains/acme/nodes/${nodeA.node_id}/quarantine`, admin)).status).toBe(204);
    expect((await read(nodeA, bearerOf(nodeA))).status).toBe(200);
  });

  it("refuses node A's bearer on node B's path with 403 node_mismatch", async () => {
    const response = await read(nodeB, bearerOf(nodeA), "db-password", "read-mismatch");
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "node_mismatch" });
    expect(await eventsFor("read-mismatch")).toMatchObject([{ decision: "denied", reason: "node_mismatch" }]);
  });

  it.each([
    ["not an nsk bearer", "eyJhbGciOiJub25lIn0.e30."],
    ["a wrong secret for a real kid", () => `nsk.${nodeA.kid}.${"A".repeat(43)}`],
    ["an unknown kid", `nsk.unknownkid123.${"A".repeat(43)}`],
  ])("refuses %s with 401 invalid_token", async (_label, token) => {
    const bearer = typeof token === "function" ? token() : token;
    const response = await read(nodeA, bearer);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toContain('error="invalid_token"');
    expect(await response.json()).toMatchObject({ code: "invalid_token" });
  });

  it("keeps the old kid working through the grace period after the node rotates its NSK", async () => {
    const wrapKey = deriveWrapKey(Buffer.from(nodeA.nsk, "base64url"));
    const proof = newRotationRequestBody(wrapKey, nodeA.node_id, nodeA.kid, Math.floor(Date.now() / 1000));
    const rotated = await call("POST", `/v1/nodes/${nodeA.node_id}/nsk/rotate`, bearerOf(nodeA), proof);
    expect(rotated.status).toBe(201);
    const answer = (await rotated.json()) as { kid: string; jwe: string };
    const next = { kid: answer.kid, nsk: (await openNewNsk(answer.jwe, wrapKey, nodeA.kid, answer.kid)).toString("base64url") };
    expect(next.kid).not.toBe(nodeA.kid);
    const fresh = await read(nodeA, bearerOf(next));
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get("x-custos-secret-kid")).toBe(next.kid);
    expect((await read(nodeA, bearerOf(nodeA))).status).toBe(200);
  });

  it("answers the 61st read in a minute with 429, Retry-After and RateLimit headers, audited as one summarised run", async () => {
    const node = await enroll("busy-1");
    expect((await call("PUT", `/v1/domains/acme/secrets/db-password/readers/${node.node_id}`, admin)).status).toBe(204);
    for (let i = 0; i < 60; i += 1) expect((await read(node, bearerOf(node))).status).toBe(200);
    const limited = await read(node, bearerOf(node), "db-password", "read-limited");
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(limited.headers.get("ratelimit")).toMatch(/"secret-reads-per-node"; r=0; t=\d+/);
    expect(limited.headers.get("ratelimit-policy")).toMatch(/"secret-reads-per-node"; q=60; w=60/);
    expect(await limited.json()).toMatchObject({ code: "rate_limited" });
    for (let i = 0; i < 20; i += 1) expect((await read(node, bearerOf(node))).status).toBe(429);
    const rateLimited = (await readRecords(env.custos.db, "acme", 0, 1_000_000)).filter((e) => e.actor === `node:${node.node_id}` && e.reason === "rate_limited_node");
    expect(rateLimited).toHaveLength(1);
  });

  it("releases nothing when the audit store fails: 503 audit_unavailable", async () => {
    await env.custos.db.query("ALTER TABLE audit_events ADD CONSTRAINT test_no_reads CHECK (action <> 'secret.read' OR decision <> 'granted') NOT VALID");
    try {
      const response = await read(nodeB, bearerOf(nodeB)); // warm: B is denied (audited as denied, allowed by the constraint)
      expect(response.status).toBe(403);
      const refused = await read(nodeA, bearerOf(nodeA));
      expect(refused.status).toBe(503);
      const body = (await refused.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ code: "audit_unavailable" });
      expect(body).not.toHaveProperty("jwe");
    } finally {
      await env.custos.db.query("ALTER TABLE audit_events DROP CONSTRAINT test_no_reads");
    }
  });

  it("releases nothing when the backend is sealed: 503 secret_backend_unavailable, and /readyz says so", async () => {
    bao.seal();
    try {
      // The value is read from the backend on every request, whatever the wrap-key cache holds.
      const response = await read(nodeA, bearerOf(nodeA));
      expect(response.status).toBe(503);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ code: "secret_backend_unavailable" });
      expect(body).not.toHaveProperty("jwe");
      const ready = await fetch(`${env.server.url}/readyz`);
      expect(ready.status).toBe(503);
    } finally {
      bao.unseal();
    }
    expect((await read(nodeA, bearerOf(nodeA))).status).toBe(200);
  });

  it("leaves the plaintext and the NSKs in no log line, no database row and no response body but the JWE's", async () => {
    const tables = await env.custos.db.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
    let rows = "";
    for (const { table_name: table } of tables) rows += JSON.stringify(await env.custos.db.query(`SELECT * FROM ${table}`));
    const haystacks = { logs: env.logs.lines().join("\n"), rows, bodies: bodies.filter((b) => !b.includes('"nsk"')).join("\n") };
    const needles = [SECRET_VALUE, Buffer.from(SECRET_VALUE).toString("base64"), nodeA.nsk, nodeB.nsk, bearerOf(nodeA).split(".")[2] ?? ""];
    for (const [where, haystack] of Object.entries(haystacks)) {
      for (const needle of needles) expect(haystack.includes(needle), `${where} contains a secret`).toBe(false);
    }
  });

  it("releases nothing when SpiceDB is unreachable: 503 authz_unavailable", async () => {
    (env.custos.authorizer as unknown as { close(): void }).close();
    const response = await read(nodeA, bearerOf(nodeA));
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ code: "authz_unavailable" });
  });
});
