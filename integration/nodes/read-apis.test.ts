import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRecords } from "../../src/audit/audit-store.ts";
import { auditActor } from "../../src/audit/audit-vocabulary.ts";
import { domainRef, nodeRef, secretRef, userRef } from "../../src/authz/object-ids.ts";
import { registerNode } from "../../src/nodes/enroll-node.ts";
import { createNodeRepository } from "../../src/nodes/node-repo.ts";
import type { ApiAnswer, Credential, EnrolledNode, Paged } from "../support/api-client.ts";
import { nodeBearer, startCustosWithProvider, uniqueName, type CustosWithProvider, type Tenant } from "../support/custos-with-provider.ts";
import { storeKinds } from "../support/stores.ts";
import { CLIENT_ID } from "../identity/oidc-fixtures.ts";

const MFA = "urn:custos:acr:mfa";

/**
 * Issue 15 over the wire: the domain and node read APIs (who may read them, paging, what a
 * node's row says) and node decommission (step-up, audit, keys, relationships). Each test
 * has a domain of its own.
 */
describe.each(storeKinds())("domain and node read APIs, and decommission (%s)", (kind) => {
  let env: CustosWithProvider;
  let auditor: string;
  /** bob@example.org, admin of a domain of his own and nothing in the tenants' domains but their auditor. */
  let strangerDomain: string;

  beforeAll(async () => {
    env = await startCustosWithProvider({ kind });
    auditor = await env.idToken("bob@example.org", "password");
    strangerDomain = uniqueName("s");
    (await env.api.putDomain(env.operatorToken, strangerDomain, { issuer: env.provider.issuer, client_id: CLIENT_ID, admins: ["bob@example.org"], auditors: [] })).body();
  });
  afterAll(async () => {
    await env.close();
  });

  /** A domain whose admin is alice and that has no auditor: bob is then only another domain's admin. */
  async function domainWithoutBob(): Promise<{ domain: string; admin: string; node: EnrolledNode }> {
    const domain = uniqueName("n");
    (await env.api.putDomain(env.operatorToken, domain, { issuer: env.provider.issuer, client_id: CLIENT_ID, admins: ["alice"], auditors: [] })).body();
    const admin = await env.idToken("alice", "mfa");
    return { domain, admin, node: (await env.api.enroll(admin, domain, "web-1")).body() };
  }
  const eventsOf = async (domain: string, answer: ApiAnswer<unknown>) =>
    (await readRecords(env.custos.db, domain, 0, 1_000_000)).filter((event) => event.request_id === answer.requestId);

  /** Every page of a list, following next_cursor; each page's items in order. */
  async function allPages<Item>(fetchPage: (cursor: string | undefined) => Promise<ApiAnswer<Paged<Item>>>): Promise<Item[][]> {
    const pages: Item[][] = [];
    for (let cursor: string | undefined, first = true; first || cursor !== undefined; first = false) {
      const page = (await fetchPage(cursor)).body();
      pages.push([...page.items]);
      cursor = page.next_cursor;
    }
    return pages;
  }

  it("lists every domain to the operator, a page at a time, each exactly once; a domain admin is refused 401", async () => {
    const mine = [uniqueName("l"), uniqueName("l"), uniqueName("l")];
    for (const domain of mine) {
      (await env.api.putDomain(env.operatorToken, domain, { issuer: env.provider.issuer, client_id: CLIENT_ID, admins: ["alice"], auditors: [] })).body();
    }
    const pages = await allPages((cursor) => env.api.listDomains(env.operatorToken, { limit: 2, ...(cursor === undefined ? {} : { cursor }) }));
    const ids = pages.flat().map((domain) => domain.domain);
    expect(pages.every((page) => page.length <= 2)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([...ids].sort());
    expect(ids).toEqual(expect.arrayContaining(["acme", strangerDomain, ...mine]));
    const acme = pages.flat().find((domain) => domain.domain === "acme");
    expect(acme).toMatchObject({ issuer: env.provider.issuer, client_id: CLIENT_ID });
    expect(Date.parse(acme?.created_at ?? "")).not.toBeNaN();

    const asAdmin = await env.api.listDomains(await env.idToken("alice", "mfa"));
    expect(asAdmin.status).toBe(401);
    expect(asAdmin.problem).toMatchObject({ code: "invalid_token" });
    expect((await env.api.listDomains(undefined)).status).toBe(401);
    expect((await env.api.listDomains(env.operatorToken, { limit: 0 })).problem).toMatchObject({ status: 400, code: "invalid_request" });
    expect((await env.api.listDomains(env.operatorToken, { cursor: Buffer.from("NOT A DOMAIN").toString("base64url") })).status).toBe(400);
  });

  it("shows a domain to its admin and its auditor, with its members as SpiceDB has them and its counts", async () => {
    const tenant = await env.freshTenant({ nodes: ["a", "b"] });
    expect((await env.api.writeSecret(tenant.admin, tenant.domain, "db-password", { value: "v1" })).status).toBe(201);
    for (const as of [tenant.admin, auditor]) {
      const shown = await env.api.showDomain(as, tenant.domain);
      expect(shown.status, shown.text).toBe(200);
      expect(shown.body()).toMatchObject({
        domain: tenant.domain, issuer: env.provider.issuer, client_id: CLIENT_ID, admins: ["alice"], auditors: ["bob@example.org"], counts: { nodes: 2, secrets: 1 },
      });
    }
    // SpiceDB is the authority: a member removed there (not through the API) is not shown.
    await env.custos.authorizer.writeRelationships([], [{ resource: domainRef(tenant.domain), relation: "auditor", subject: userRef(`oidc:${tenant.domain}:bob@example.org`) }]);
    expect((await env.api.showDomain(tenant.admin, tenant.domain)).body()).toMatchObject({ admins: ["alice"], auditors: [] });
  });

  it("refuses a domain's and its nodes' reads to another domain's admin (403, audited as domain.read), a node bearer and no credential (401)", async () => {
    const { domain, node } = await domainWithoutBob();
    const strangerAdmin = await env.idToken("bob@example.org", "mfa");
    const reads: ((as: Credential | undefined) => Promise<ApiAnswer<unknown>>)[] = [
      (as) => env.api.showDomain(as, domain),
      (as) => env.api.listNodes(as, domain),
      (as) => env.api.showNode(as, domain, node.node_id),
    ];
    for (const read of reads) {
      const refused = await read(strangerAdmin);
      expect(refused.status).toBe(403);
      expect(refused.problem).toMatchObject({ code: "permission_denied" });
      expect(await eventsOf(domain, refused)).toMatchObject([{ action: "domain.read", decision: "denied", reason: "permission_denied", actor: `user:oidc:${domain}:bob@example.org` }]);
      const byNode = await read(nodeBearer(node));
      expect(byNode.status).toBe(401);
      expect(byNode.problem).toMatchObject({ code: "invalid_token" });
      expect((await read(undefined)).status).toBe(401);
      expect((await read(env.operatorToken)).status).toBe(401);
    }
  });

  it("lists and shows nodes to the domain's admin and auditor: state, current kid, key ages, enrolled_at, last_read_at; never key material", async () => {
    const tenant = await env.freshTenant({ nodes: ["reader", "idle"] });
    const [reader, idle] = tenant.nodes as [EnrolledNode, EnrolledNode];
    expect((await env.api.writeSecret(tenant.admin, tenant.domain, "db-password", { value: "v1" })).status).toBe(201);
    expect((await env.api.addReader(tenant.admin, tenant.domain, "db-password", reader.node_id)).status).toBe(204);
    const before = await env.api.showNode(tenant.admin, tenant.domain, reader.node_id);
    expect(before.body()).toMatchObject({ node_id: reader.node_id, name: "reader", state: "active", current_kid: reader.kid, last_read_at: null, decommissioned_at: null });
    const read = await env.api.readSecret(nodeBearer(reader), reader.node_id, "db-password");
    expect(read.status).toBe(200);
    const [granted] = (await eventsOf(tenant.domain, read)).filter((event) => event.action === "secret.read" && event.decision === "granted");
    expect((await env.api.quarantine(tenant.admin, tenant.domain, idle.node_id)).status).toBe(204);

    for (const as of [tenant.admin, auditor]) {
      const listed = await env.api.listNodes(as, tenant.domain);
      expect(listed.status, listed.text).toBe(200);
      const { items, next_cursor } = listed.body();
      expect(next_cursor).toBeUndefined();
      expect(items.map((node) => node.node_id)).toEqual([reader.node_id, idle.node_id].sort());
      const shownReader = items.find((node) => node.node_id === reader.node_id);
      expect(shownReader).toMatchObject({ state: "active", current_kid: reader.kid, last_read_at: granted?.at });
      expect(shownReader?.keys).toEqual([{ kid: reader.kid, created_at: expect.any(String) as string, retires_at: null }]);
      expect(Date.parse(shownReader?.enrolled_at ?? "")).not.toBeNaN();
      expect(items.find((node) => node.node_id === idle.node_id)).toMatchObject({ state: "quarantined", last_read_at: null });
      expect(listed.text).not.toContain(reader.nsk);
      const shown = await env.api.showNode(as, tenant.domain, reader.node_id);
      expect(shown.body()).toEqual(shownReader);
    }
  });

  it("answers another domain's node, and a node that does not exist, 404 when shown", async () => {
    const tenant = await env.freshTenant({ nodes: ["mine"] });
    const elsewhere = await env.freshTenant({ nodes: ["theirs"] });
    const shown = await env.api.showNode(tenant.admin, tenant.domain, elsewhere.nodes[0]?.node_id ?? "");
    expect(shown.status).toBe(404);
    expect(shown.problem).toMatchObject({ code: "not_found" });
    expect((await env.api.showNode(tenant.admin, tenant.domain, randomUUID())).status).toBe(404);
    expect((await env.api.showNode(tenant.admin, tenant.domain, "not-a-uuid")).problem).toMatchObject({ status: 400, code: "invalid_name" });
  });

  it("pages through 250 nodes returning each exactly once, and refuses a bad cursor or limit with 400", async () => {
    const tenant = await env.freshTenant();
    // Enrolled through the same effect the API and the dev seed use, without 250 HTTP round trips.
    const deps = { audit: env.custos.audit, authorizer: env.custos.authorizer, wrapper: env.custos.backend, nodes: createNodeRepository(env.custos.db) };
    const enrolled: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const ids = Array.from({ length: 25 }, () => randomUUID());
      await Promise.all(ids.map((nodeId, index) =>
        registerNode(deps, { actor: auditActor.system("test"), domain: tenant.domain, nodeId, name: `n-${String(batch * 25 + index)}`, requestId: randomUUID() })));
      enrolled.push(...ids);
    }
    const pages = await allPages((cursor) => env.api.listNodes(auditor, tenant.domain, { limit: 40, ...(cursor === undefined ? {} : { cursor }) }));
    expect(pages.map((page) => page.length)).toEqual([40, 40, 40, 40, 40, 40, 10]);
    const ids = pages.flat().map((node) => node.node_id);
    expect(ids).toEqual([...enrolled].sort());
    const defaultPage = (await env.api.listNodes(tenant.admin, tenant.domain)).body();
    expect(defaultPage.items).toHaveLength(50);
    expect(defaultPage.next_cursor).toBeDefined();

    for (const page of [{ limit: 0 }, { limit: 201 }, { limit: "ten" }, { limit: "1e2" }, { cursor: "!!" }, { cursor: Buffer.from("not-a-node-id").toString("base64url") }, { cursor: `${defaultPage.next_cursor ?? ""}=` }]) {
      const refused = await env.api.listNodes(tenant.admin, tenant.domain, page);
      expect(refused.status, JSON.stringify(page)).toBe(400);
      expect(refused.problem).toMatchObject({ code: "invalid_request" });
    }
  });

  describe("decommissioning a node", () => {
    async function grantedTenant(): Promise<Tenant & { node: EnrolledNode }> {
      const tenant = await env.freshTenant({ nodes: ["web-1"] });
      const node = tenant.nodes[0] as EnrolledNode;
      expect((await env.api.writeSecret(tenant.admin, tenant.domain, "db-password", { value: "v1" })).status).toBe(201);
      expect((await env.api.addReader(tenant.admin, tenant.domain, "db-password", node.node_id)).status).toBe(204);
      expect((await env.api.readSecret(nodeBearer(node), node.node_id, "db-password")).status).toBe(200);
      return { ...tenant, node };
    }
    const relationshipsOf = async (domain: string, nodeId: string) => ({
      domain: await env.custos.authorizer.readRelationships({ resourceType: "node", resourceId: nodeRef(nodeId).id, relation: "domain" }, { kind: "fully_consistent" }),
      reader: await env.custos.authorizer.check({ resource: secretRef(domain, "db-password"), permission: "read", subject: nodeRef(nodeId) }, { kind: "fully_consistent" }),
    });

    it("needs step-up: a password-only admin gets the insufficient_user_authentication challenge and nothing changes", async () => {
      const { domain, node } = await grantedTenant();
      const refused = await env.api.decommission(await env.idToken("alice", "password"), domain, node.node_id);
      expect(refused.status).toBe(401);
      expect(refused.headers.get("www-authenticate")).toMatch(new RegExp(`^Bearer error="insufficient_user_authentication", .*acr_values="${MFA}"`));
      expect(refused.problem).toMatchObject({ code: "step_up_required" });
      expect(await eventsOf(domain, refused)).toMatchObject([{ action: "node.decommission", decision: "denied", reason: "acr_not_acceptable" }]);
      expect((await env.api.showNode(auditor, domain, node.node_id)).body()).toMatchObject({ state: "active", current_kid: node.kid });
      expect((await env.api.readSecret(nodeBearer(node), node.node_id, "db-password")).status).toBe(200);
      const relationships = await relationshipsOf(domain, node.node_id);
      expect(relationships.domain).toHaveLength(1);
      expect(relationships.reader).toBe(true);
    });

    it("is refused to the domain's auditor (403) and answers another domain's node 404", async () => {
      const { domain, node } = await grantedTenant();
      const byAuditor = await env.api.decommission(await env.idToken("bob@example.org", "mfa"), domain, node.node_id);
      expect(byAuditor.status).toBe(403);
      const elsewhere = await env.freshTenant();
      const foreign = await env.api.decommission(elsewhere.admin, elsewhere.domain, node.node_id);
      expect(foreign.status).toBe(404);
      expect((await env.api.showNode(auditor, domain, node.node_id)).body()).toMatchObject({ state: "active" });
    });

    it("audits first, retires every key now (the bearer is refused on its next read), removes its relationships, and marks it decommissioned", async () => {
      const { domain, node, admin } = await grantedTenant();
      const done = await env.api.decommission(admin, domain, node.node_id);
      expect(done.status, done.text).toBe(204);
      expect(await eventsOf(domain, done)).toMatchObject([
        { action: "node.decommission", decision: "granted", reason: "decommissioned", resource: `node:${node.node_id}`, actor: `user:oidc:${domain}:alice`, details: { name: "web-1", previous_status: "active" } },
      ]);

      const refused = await env.api.readSecret(nodeBearer(node), node.node_id, "db-password");
      expect(refused.status).toBe(401);
      expect(refused.problem).toMatchObject({ code: "invalid_token" });
      expect(await relationshipsOf(domain, node.node_id)).toEqual({ domain: [], reader: false });

      const shown = (await env.api.showNode(auditor, domain, node.node_id)).body();
      expect(shown).toMatchObject({ state: "decommissioned", current_kid: null });
      expect(shown.decommissioned_at).not.toBeNull();
      expect(shown.keys.every((key) => key.retires_at !== null)).toBe(true);
      expect((await env.api.showDomain(admin, domain)).body().counts.nodes).toBe(0);
    });

    it("answers 204 again when repeated, audited as repeated; a decommissioned node can be neither quarantined nor lifted (409)", async () => {
      const { domain, node, admin } = await grantedTenant();
      expect((await env.api.decommission(admin, domain, node.node_id)).status).toBe(204);
      const shown = (await env.api.showNode(admin, domain, node.node_id)).body();
      const again = await env.api.decommission(admin, domain, node.node_id);
      expect(again.status).toBe(204);
      expect(await eventsOf(domain, again)).toMatchObject([{ action: "node.decommission", decision: "granted", reason: "repeated", details: { previous_status: "decommissioned" } }]);
      // The first decommission's time and the keys' retirement stand.
      expect((await env.api.showNode(admin, domain, node.node_id)).body()).toEqual(shown);

      for (const refused of [await env.api.quarantine(admin, domain, node.node_id), await env.api.liftQuarantine(admin, domain, node.node_id)]) {
        expect(refused.status).toBe(409);
        expect(refused.problem).toMatchObject({ code: "node_decommissioned" });
      }
      expect((await env.api.showNode(admin, domain, node.node_id)).body().state).toBe("decommissioned");
    });
  });
});
