import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Authorizer, Relationship } from "../../src/authz/authorizer.ts";
import { domainRef, nodeRef, secretRef, userRef } from "../../src/authz/object-ids.ts";
import { startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";
import { storeKinds } from "../support/stores.ts";

/**
 * One rule for every write (security-hardening item 6): the audit record commits before
 * anything changes, and a failed audit leaves nothing changed. Each elevated action is run
 * with the audit store refusing exactly its `granted` record (a CHECK constraint, so denials
 * and the operator's own authentication still commit), and must answer 503
 * audit_unavailable with every row, backend value and SpiceDB relationship as it was.
 */
describe.each(storeKinds())("a failed audit leaves nothing changed (%s)", (kind) => {
  let env: CustosWithProvider;
  let admin: string;
  let nodeId: string;
  /** Every relationship write Custos asks of SpiceDB, in order. */
  const relationshipWrites: { touch: readonly Relationship[]; remove: readonly Relationship[] }[] = [];

  function recordingWrites(authorizer: Authorizer): Authorizer {
    return {
      check: (request, consistency) => authorizer.check(request, consistency),
      readRelationships: (filter, consistency) => authorizer.readRelationships(filter, consistency),
      writeRelationships: (touch, remove) => {
        relationshipWrites.push({ touch, remove });
        return authorizer.writeRelationships(touch, remove);
      },
      readiness: authorizer.readiness,
    };
  }

  const call = (method: string, path: string, token: string, body?: unknown) =>
    fetch(`${env.server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  /** Runs `request` while the audit store refuses `action`'s granted records; expects 503 audit_unavailable. */
  async function withAuditRefusing(action: string, request: () => Promise<Response>): Promise<Record<string, unknown>> {
    await env.custos.db.query(`ALTER TABLE audit_events ADD CONSTRAINT test_refuse_action CHECK (action <> '${action}' OR decision <> 'granted') NOT VALID`);
    const writesBefore = relationshipWrites.length;
    try {
      const response = await request();
      const body = (await response.json()) as Record<string, unknown>;
      expect(response.status, JSON.stringify(body)).toBe(503);
      expect(body).toMatchObject({ code: "audit_unavailable" });
      expect(relationshipWrites.slice(writesBefore), "SpiceDB was written").toEqual([]);
      return body;
    } finally {
      await env.custos.db.query("ALTER TABLE audit_events DROP CONSTRAINT test_refuse_action");
    }
  }

  const count = async (sql: string, params: unknown[] = []) => Number((await env.custos.db.query<{ n: number | string }>(sql, params))[0]?.n);
  const statusOf = async (id: string) => (await env.custos.db.query<{ status: string }>("SELECT status FROM nodes WHERE id = $1", [id]))[0]?.status;
  const secretRow = async (name: string) =>
    (await env.custos.db.query<{ version: number; authz_revision: string | null }>("SELECT version, authz_revision FROM secrets WHERE domain = 'acme' AND name = $1", [name]))[0];
  const isReader = (name: string, node: string) =>
    env.custos.authorizer.check({ resource: secretRef("acme", name), permission: "read", subject: nodeRef(node) }, { kind: "fully_consistent" });

  beforeAll(async () => {
    env = await startCustosWithProvider({ kind, decorateAuthorizer: recordingWrites });
    admin = await env.idToken("alice", "mfa");
    const enrolled = await call("POST", "/v1/domains/acme/nodes", admin, { name: "web-1" });
    expect(enrolled.status).toBe(201);
    nodeId = ((await enrolled.json()) as { node_id: string }).node_id;
    expect((await call("PUT", "/v1/domains/acme/secrets/db-password", admin, { value: "v1" })).status).toBe(201);
  });
  afterAll(async () => {
    await env.close();
  });

  it("node.enroll: no node, no key row, no relationship, no NSK", async () => {
    const nodes = await count("SELECT count(*) AS n FROM nodes");
    const keys = await count("SELECT count(*) AS n FROM node_secret_keys");
    const body = await withAuditRefusing("node.enroll", () => call("POST", "/v1/domains/acme/nodes", admin, { name: "ghost" }));
    expect(body).not.toHaveProperty("nsk");
    expect(await count("SELECT count(*) AS n FROM nodes")).toBe(nodes);
    expect(await count("SELECT count(*) AS n FROM node_secret_keys")).toBe(keys);
  });

  it("node.quarantine, both directions: the status stays as it was", async () => {
    await withAuditRefusing("node.quarantine", () => call("POST", `/v1/domains/acme/nodes/${nodeId}/quarantine`, admin));
    expect(await statusOf(nodeId)).toBe("active");
    expect((await call("POST", `/v1/domains/acme/nodes/${nodeId}/quarantine`, admin)).status).toBe(204);
    await withAuditRefusing("node.quarantine", () => call("DELETE", `/v1/domains/acme/nodes/${nodeId}/quarantine`, admin));
    expect(await statusOf(nodeId)).toBe("quarantined");
    expect((await call("DELETE", `/v1/domains/acme/nodes/${nodeId}/quarantine`, admin)).status).toBe(204);
  });

  it("node.decommission: keys, status and relationships stay as they were", async () => {
    const enrolled = await call("POST", "/v1/domains/acme/nodes", admin, { name: "to-decommission" });
    const node = (await enrolled.json()) as { node_id: string };
    expect((await call("PUT", `/v1/domains/acme/secrets/db-password/readers/${node.node_id}`, admin)).status).toBe(204);
    const keys = await env.custos.db.query("SELECT kid, retires_at FROM node_secret_keys WHERE node_id = $1 ORDER BY kid", [node.node_id]);
    await withAuditRefusing("node.decommission", () => call("DELETE", `/v1/domains/acme/nodes/${node.node_id}`, admin));
    expect(await statusOf(node.node_id)).toBe("active");
    expect(await env.custos.db.query("SELECT kid, retires_at FROM node_secret_keys WHERE node_id = $1 ORDER BY kid", [node.node_id])).toEqual(keys);
    expect(await isReader("db-password", node.node_id)).toBe(true);
    expect(await env.custos.authorizer.check({ resource: nodeRef(node.node_id), permission: "act", subject: userRef("oidc:acme:alice") }, { kind: "fully_consistent" })).toBe(true);
  });

  it("secret.write: the backend's value and version and the secret's row are unchanged, and a new secret is not created", async () => {
    const row = await secretRow("db-password");
    await withAuditRefusing("secret.write", () => call("PUT", "/v1/domains/acme/secrets/db-password", admin, { value: "v2-never" }));
    expect(await secretRow("db-password")).toEqual(row);
    const stored = await env.custos.backend.readSecret("acme", "db-password");
    expect({ version: stored?.version, value: stored?.value.toString("utf8") }).toEqual({ version: 1, value: "v1" });
    await withAuditRefusing("secret.write", () => call("PUT", "/v1/domains/acme/secrets/brand-new", admin, { value: "never" }));
    expect(await secretRow("brand-new")).toBeUndefined();
    expect(await env.custos.backend.readSecret("acme", "brand-new")).toBeUndefined();
  });

  it("secret.grant, adding and removing a reader: who may read stays as it was", async () => {
    const row = await secretRow("db-password");
    await withAuditRefusing("secret.grant", () => call("PUT", `/v1/domains/acme/secrets/db-password/readers/${nodeId}`, admin));
    expect(await isReader("db-password", nodeId)).toBe(false);
    expect(await secretRow("db-password")).toEqual(row);
    expect((await call("PUT", `/v1/domains/acme/secrets/db-password/readers/${nodeId}`, admin)).status).toBe(204);
    const granted = await secretRow("db-password");
    await withAuditRefusing("secret.grant", () => call("DELETE", `/v1/domains/acme/secrets/db-password/readers/${nodeId}`, admin));
    expect(await isReader("db-password", nodeId)).toBe(true);
    expect(await secretRow("db-password")).toEqual(granted);
  });

  it("secret.delete: the row, every backend version and the readers stay as they were", async () => {
    expect((await call("PUT", "/v1/domains/acme/secrets/doomed", admin, { value: "d1" })).status).toBe(201);
    expect((await call("PUT", "/v1/domains/acme/secrets/doomed", admin, { value: "d2" })).status).toBe(200);
    expect((await call("PUT", `/v1/domains/acme/secrets/doomed/readers/${nodeId}`, admin)).status).toBe(204);
    const row = await secretRow("doomed");
    await withAuditRefusing("secret.delete", () => call("DELETE", "/v1/domains/acme/secrets/doomed", admin));
    expect(await secretRow("doomed")).toEqual(row);
    expect((await env.custos.backend.readSecret("acme", "doomed", 1))?.value.toString("utf8")).toBe("d1");
    expect((await env.custos.backend.readSecret("acme", "doomed"))?.value.toString("utf8")).toBe("d2");
    expect(await isReader("doomed", nodeId)).toBe(true);
    // Once the audit store answers, the same call deletes it.
    expect((await call("DELETE", "/v1/domains/acme/secrets/doomed", admin)).status).toBe(204);
    expect(await secretRow("doomed")).toBeUndefined();
  });

  it("access.issue: no grant, and not even the domain's first signing key is stored", async () => {
    expect(await count("SELECT count(*) AS n FROM grant_signing_keys WHERE domain = 'acme'")).toBe(0);
    const body = await withAuditRefusing("access.issue", () => call("POST", "/v1/domains/acme/grants", admin, { node_id: nodeId, action: "ssh.login" }));
    expect(body).not.toHaveProperty("grant");
    expect(await count("SELECT count(*) AS n FROM grant_signing_keys WHERE domain = 'acme'")).toBe(0);
    // Once the audit store answers, the first grant stores the key it was audited with.
    const granted = await call("POST", "/v1/domains/acme/grants", admin, { node_id: nodeId, action: "ssh.login" });
    expect(granted.status).toBe(201);
    const [kid] = await env.custos.db.query<{ kid: string }>("SELECT kid FROM grant_signing_keys WHERE domain = 'acme'");
    const [record] = await env.custos.db.query<{ details: { kid?: string } }>(
      "SELECT details FROM audit_events WHERE chain = 'acme' AND action = 'access.issue' AND decision = 'granted'",
    );
    expect(record?.details.kid).toBe(kid?.kid);
  });

  it("domain put (operator): the domain's row and its admins in SpiceDB are unchanged", async () => {
    const [before] = await env.custos.db.query("SELECT issuer, client_id, admins, auditors FROM domains WHERE id = 'acme'");
    await withAuditRefusing("domain.put", () =>
      env.putDomain("acme", { issuer: "https://idp.evil.example", client_id: "other", admins: ["mallory"], auditors: [] }));
    expect((await env.custos.db.query("SELECT issuer, client_id, admins, auditors FROM domains WHERE id = 'acme'"))[0]).toEqual(before);
    const administers = (sub: string) =>
      env.custos.authorizer.check({ resource: domainRef("acme"), permission: "administer", subject: userRef(`oidc:acme:${sub}`) }, { kind: "fully_consistent" });
    expect(await administers("alice")).toBe(true);
    expect(await administers("mallory")).toBe(false);
  });
});
