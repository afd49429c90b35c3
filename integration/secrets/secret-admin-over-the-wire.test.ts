import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRecords } from "../../src/audit/audit-store.ts";
import { nodeRef, secretRef } from "../../src/authz/object-ids.ts";
import type { ApiAnswer, Credential, EnrolledNode, PageAnswer } from "../support/api-client.ts";
import { nodeBearer, startCustosWithProvider, uniqueName, type CustosWithProvider, type Tenant } from "../support/custos-with-provider.ts";
import { storeKinds } from "../support/stores.ts";
import { CLIENT_ID } from "../identity/oidc-fixtures.ts";
import { startOpenBaoDouble, type OpenBaoDouble } from "./openbao-double.ts";

const SECRET = "db-password";
const SECRET_VALUE = "pg-pass: never-in-a-listing-5e1d";
const OTHER_VALUE = "api-key: never-in-a-listing-9a2b";

/** A test's own domain: `db-password` (read by `reader`) and `api-key` (no readers). */
interface AdminTenant extends Tenant {
  readonly reader: EnrolledNode;
  readonly other: EnrolledNode;
}

/**
 * Issue 15 over the wire: what a domain's admins and auditors may read of its secrets and
 * issued grants (metadata only, never a value or a grant), and the elevated deletion of a
 * secret. Custos runs on the OpenBao adapter against the double, as in production.
 */
describe.each(storeKinds())("secret and grant administration over HTTP (%s)", (kind) => {
  let env: CustosWithProvider;
  let bao: OpenBaoDouble;
  let auditor: string;

  async function tenantWithSecrets(): Promise<AdminTenant> {
    const tenant = await env.freshTenant({ nodes: ["reader-node", "other-node"] });
    const [reader, other] = tenant.nodes;
    if (reader === undefined || other === undefined) throw new Error("two nodes were enrolled");
    expect((await env.api.writeSecret(tenant.admin, tenant.domain, SECRET, { value: SECRET_VALUE })).status).toBe(201);
    expect((await env.api.writeSecret(tenant.admin, tenant.domain, "api-key", { value: OTHER_VALUE })).status).toBe(201);
    expect((await env.api.addReader(tenant.admin, tenant.domain, SECRET, reader.node_id)).status).toBe(204);
    return { ...tenant, reader, other };
  }

  /** A domain whose only admin is bob: alice, admin of every fresh tenant, has no role in it. */
  async function domainAliceHasNoRoleIn(): Promise<string> {
    const domain = uniqueName("n");
    (await env.api.putDomain(env.operatorToken, domain, { issuer: env.provider.issuer, client_id: CLIENT_ID, admins: ["bob@example.org"], auditors: [] })).body();
    return domain;
  }

  const eventsOf = async (domain: string, answer: ApiAnswer<unknown>) =>
    (await readRecords(env.custos.db, domain, 0, 1_000_000)).filter((event) => event.request_id === answer.requestId);
  const mayRead = (domain: string, name: string, node: EnrolledNode) =>
    env.custos.authorizer.check({ resource: secretRef(domain, name), permission: "read", subject: nodeRef(node.node_id) }, { kind: "fully_consistent" });

  /** Every page of a list, following next_cursor; fails past 100 pages. */
  async function allPages<Item>(fetchPage: (cursor: string | undefined) => Promise<ApiAnswer<PageAnswer<Item>>>): Promise<{ items: Item[]; pages: number }> {
    const items: Item[] = [];
    let cursor: string | undefined;
    for (let pages = 1; pages <= 100; pages += 1) {
      const page = (await fetchPage(cursor)).body();
      items.push(...page.items);
      if (page.next_cursor === undefined) return { items, pages };
      cursor = page.next_cursor;
    }
    throw new Error("more than 100 pages");
  }

  beforeAll(async () => {
    bao = await startOpenBaoDouble();
    bao.createTransitKey("custos", { derived: true });
    env = await startCustosWithProvider({ kind, env: { OPENBAO_ADDR: bao.addr, OPENBAO_TOKEN: bao.token } });
    auditor = await env.idToken("bob@example.org", "password");
  });
  afterAll(async () => {
    await env.close();
    await bao.stop();
  });

  describe("reading metadata", () => {
    it("lists the domain's secrets to its admin and its auditor: name, version, updated_at, reader_count, never a value", async () => {
      const tenant = await tenantWithSecrets();
      for (const as of [tenant.admin, auditor]) {
        const answer = await env.api.listSecrets(as, tenant.domain);
        expect(answer.status, answer.text).toBe(200);
        const { items, next_cursor: next } = answer.body();
        expect(next).toBeUndefined();
        expect(items.map(({ name, version, reader_count: readers }) => ({ name, version, readers }))).toEqual([
          { name: "api-key", version: 1, readers: 0 },
          { name: SECRET, version: 1, readers: 1 },
        ]);
        expect(Number.isNaN(Date.parse(items[0]?.updated_at ?? ""))).toBe(false);
        expect(answer.text).not.toContain(SECRET_VALUE);
        expect(answer.text).not.toContain(OTHER_VALUE);
      }
    });

    it("shows a secret's metadata and readers (node id and name) to its admin and its auditor, never its value", async () => {
      const tenant = await tenantWithSecrets();
      for (const as of [tenant.admin, auditor]) {
        const answer = await env.api.showSecret(as, tenant.domain, SECRET);
        expect(answer.status, answer.text).toBe(200);
        expect(answer.body()).toMatchObject({ name: SECRET, version: 1, readers: [{ node_id: tenant.reader.node_id, name: "reader-node" }] });
        expect(Object.keys(answer.body()).sort()).toEqual(["created_at", "name", "readers", "updated_at", "version"]);
        expect(answer.text).not.toContain(SECRET_VALUE);
      }
      const noReaders = (await env.api.showSecret(auditor, tenant.domain, "api-key")).body();
      expect(noReaders.readers).toEqual([]);
    });

    it("shows a new version and a revoked reader as they are now", async () => {
      const tenant = await tenantWithSecrets();
      expect((await env.api.writeSecret(tenant.admin, tenant.domain, SECRET, { value: "v2" })).status).toBe(200);
      expect((await env.api.removeReader(tenant.admin, tenant.domain, SECRET, tenant.reader.node_id)).status).toBe(204);
      expect((await env.api.showSecret(auditor, tenant.domain, SECRET)).body()).toMatchObject({ version: 2, readers: [] });
      const listed = (await env.api.listSecrets(auditor, tenant.domain)).body().items.find((item) => item.name === SECRET);
      expect(listed).toMatchObject({ version: 2, reader_count: 0 });
    });

    it("answers 404 for a secret the domain does not have, even one another domain has", async () => {
      const tenant = await tenantWithSecrets();
      const elsewhere = await tenantWithSecrets();
      const answer = await env.api.showSecret(tenant.admin, tenant.domain, "no-such-secret");
      expect(answer.status).toBe(404);
      expect(answer.problem).toMatchObject({ code: "not_found" });
      // The same name exists in `elsewhere`; this domain's list does not show its secrets.
      expect((await env.api.listSecrets(elsewhere.admin, elsewhere.domain)).body().items).toHaveLength(2);
      expect((await env.api.showSecret(tenant.admin, tenant.domain, SECRET)).body().readers).toEqual([{ node_id: tenant.reader.node_id, name: "reader-node" }]);
    });

    it("refuses a user with no role in the domain (another domain's admin) with 403, audited as domain.read", async () => {
      const tenant = await tenantWithSecrets();
      const stranger = await domainAliceHasNoRoleIn();
      for (const call of [
        () => env.api.listSecrets(tenant.admin, stranger),
        () => env.api.showSecret(tenant.admin, stranger, SECRET),
        () => env.api.listGrants(tenant.admin, stranger),
      ]) {
        const answer = await call();
        expect(answer.status, answer.text).toBe(403);
        expect(answer.problem).toMatchObject({ code: "permission_denied" });
        expect(await eventsOf(stranger, answer)).toEqual([
          expect.objectContaining({ action: "domain.read", decision: "denied", reason: "permission_denied", actor: `user:oidc:${stranger}:alice` }),
        ]);
      }
    });

    it("refuses a node's bearer and a request with no credential with 401", async () => {
      const tenant = await tenantWithSecrets();
      const bearer: Credential = nodeBearer(tenant.reader);
      for (const as of [bearer, undefined]) {
        for (const answer of [
          await env.api.listSecrets(as, tenant.domain),
          await env.api.showSecret(as, tenant.domain, SECRET),
          await env.api.listGrants(as, tenant.domain),
          await env.api.deleteSecret(as, tenant.domain, SECRET),
        ]) {
          expect(answer.status, answer.text).toBe(401);
          expect(answer.problem).toMatchObject({ code: "invalid_token" });
          expect(answer.text).not.toContain(SECRET_VALUE);
        }
      }
      expect((await env.api.showSecret(auditor, tenant.domain, SECRET)).status).toBe(200);
    });
  });

  describe("paging", () => {
    it("returns more secrets than one page each exactly once, in name order, following next_cursor", async () => {
      const tenant = await env.freshTenant();
      const names = Array.from({ length: 7 }, (_, index) => `s-${String(index)}`);
      for (const name of [...names].reverse()) expect((await env.api.writeSecret(tenant.admin, tenant.domain, name, { value: `value-${name}` })).status).toBe(201);
      const { items, pages } = await allPages((cursor) => env.api.listSecrets(auditor, tenant.domain, { limit: 3, ...(cursor === undefined ? {} : { cursor }) }));
      expect(pages).toBe(3);
      expect(items.map((item) => item.name)).toEqual(names);
      const exact = await allPages((cursor) => env.api.listSecrets(auditor, tenant.domain, { limit: 7, ...(cursor === undefined ? {} : { cursor }) }));
      expect(exact.pages).toBe(1);
    });

    it("refuses a bad cursor or limit with 400 invalid_request", async () => {
      const tenant = await tenantWithSecrets();
      const bad = [{ cursor: "!!" }, { cursor: "not=padded" }, { limit: 0 }, { limit: 201 }, { limit: "ten" }, { limit: "-1" }];
      for (const page of bad) {
        for (const answer of [await env.api.listSecrets(tenant.admin, tenant.domain, page), await env.api.listGrants(tenant.admin, tenant.domain, page)]) {
          expect(answer.status, `${JSON.stringify(page)}: ${answer.text}`).toBe(400);
          expect(answer.problem).toMatchObject({ code: "invalid_request" });
        }
      }
      // A well-formed cursor that no grants page could have produced (grants page by seq).
      const foreign = Buffer.from("db-password", "utf8").toString("base64url");
      expect((await env.api.listGrants(tenant.admin, tenant.domain, { cursor: foreign })).status).toBe(400);
    });
  });

  describe("deleting a secret", () => {
    it("removes its readers, every version in the backend and its row; its reader is refused on the next read; audited", async () => {
      const tenant = await tenantWithSecrets();
      expect((await env.api.writeSecret(tenant.admin, tenant.domain, SECRET, { value: "second version" })).status).toBe(200);
      expect((await env.api.readSecret(nodeBearer(tenant.reader), tenant.reader.node_id, SECRET)).status).toBe(200);

      const deleted = await env.api.deleteSecret(tenant.admin, tenant.domain, SECRET);
      expect(deleted.status, deleted.text).toBe(204);

      const read = await env.api.readSecret(nodeBearer(tenant.reader), tenant.reader.node_id, SECRET);
      expect(read.status).toBe(403);
      expect(read.problem).toMatchObject({ code: "permission_denied" });
      expect(await mayRead(tenant.domain, SECRET, tenant.reader)).toBe(false);
      expect(await env.custos.backend.readSecret(tenant.domain, SECRET)).toBeUndefined();
      expect(await env.custos.backend.readSecret(tenant.domain, SECRET, 1)).toBeUndefined();
      expect(await env.custos.backend.readSecret(tenant.domain, SECRET, 2)).toBeUndefined();
      expect((await env.api.showSecret(tenant.admin, tenant.domain, SECRET)).status).toBe(404);
      expect((await env.api.listSecrets(tenant.admin, tenant.domain)).body().items.map((item) => item.name)).toEqual(["api-key"]);
      expect((await env.custos.backend.readSecret(tenant.domain, "api-key"))?.value.toString()).toBe(OTHER_VALUE);

      expect(await eventsOf(tenant.domain, deleted)).toEqual([
        expect.objectContaining({ action: "secret.delete", decision: "granted", reason: "ok", actor: `user:oidc:${tenant.domain}:alice`, resource: `secret:${tenant.domain}/${SECRET}`, details: { version: 2, readers: 1 } }),
        // Then, the secret gone, its former reader is told (docs/design.md, "Signed events").
        expect.objectContaining({ action: "event.publish", decision: "recorded", actor: "custos", details: expect.objectContaining({ type: "secret.revoked" }) as unknown }),
      ]);
    });

    it("answers 404 for an unknown secret, and for one already deleted", async () => {
      const tenant = await tenantWithSecrets();
      expect((await env.api.deleteSecret(tenant.admin, tenant.domain, "no-such-secret")).status).toBe(404);
      expect((await env.api.deleteSecret(tenant.admin, tenant.domain, SECRET)).status).toBe(204);
      const again = await env.api.deleteSecret(tenant.admin, tenant.domain, SECRET);
      expect(again.status).toBe(404);
      expect(again.problem).toMatchObject({ code: "not_found" });
    });

    it("a secret written again under a deleted name starts at version 1 with no readers", async () => {
      const tenant = await tenantWithSecrets();
      expect((await env.api.deleteSecret(tenant.admin, tenant.domain, SECRET)).status).toBe(204);
      expect((await env.api.writeSecret(tenant.admin, tenant.domain, SECRET, { value: "reborn" })).body()).toEqual({ name: SECRET, version: 1 });
      expect((await env.api.showSecret(tenant.admin, tenant.domain, SECRET)).body()).toMatchObject({ version: 1, readers: [] });
      expect((await env.api.readSecret(nodeBearer(tenant.reader), tenant.reader.node_id, SECRET)).status).toBe(403);
    });

    it("is step-up gated: a password-only sign-in is refused with insufficient_user_authentication, and nothing changes", async () => {
      const tenant = await tenantWithSecrets();
      const weak = await env.idToken("alice", "password");
      const refused = await env.api.deleteSecret(weak, tenant.domain, SECRET);
      expect(refused.status).toBe(401);
      expect(refused.problem).toMatchObject({ code: "step_up_required" });
      expect(refused.headers.get("www-authenticate")).toContain('error="insufficient_user_authentication"');
      expect(await eventsOf(tenant.domain, refused)).toEqual([expect.objectContaining({ action: "secret.delete", decision: "denied" })]);
      expect((await env.custos.backend.readSecret(tenant.domain, SECRET))?.value.toString()).toBe(SECRET_VALUE);
      expect(await mayRead(tenant.domain, SECRET, tenant.reader)).toBe(true);
      expect((await env.api.readSecret(nodeBearer(tenant.reader), tenant.reader.node_id, SECRET)).status).toBe(200);
    });

    it("refuses the auditor (read-only) with 403, and nothing changes", async () => {
      const tenant = await tenantWithSecrets();
      const refused = await env.api.deleteSecret(await env.idToken("bob@example.org", "mfa"), tenant.domain, SECRET);
      expect(refused.status).toBe(403);
      expect(refused.problem).toMatchObject({ code: "permission_denied" });
      expect((await env.custos.backend.readSecret(tenant.domain, SECRET))?.value.toString()).toBe(SECRET_VALUE);
      expect((await env.api.showSecret(tenant.admin, tenant.domain, SECRET)).body().readers).toHaveLength(1);
    });
  });

  describe("issued grants", () => {
    it("lists an issued grant's jti, node, action, actor, iat and exp to the admin and the auditor, never the grant", async () => {
      const tenant = await tenantWithSecrets();
      const issued = (await env.api.issueGrant(tenant.admin, tenant.domain, { node_id: tenant.reader.node_id, action: "ssh.login", ttl_seconds: 120 })).body();
      for (const as of [tenant.admin, auditor]) {
        const answer = await env.api.listGrants(as, tenant.domain);
        expect(answer.status, answer.text).toBe(200);
        const [item, ...rest] = answer.body().items;
        expect(rest).toEqual([]);
        expect(item).toMatchObject({ jti: issued.jti, node_id: tenant.reader.node_id, action: "ssh.login", actor: `user:oidc:${tenant.domain}:alice` });
        expect(item?.exp).toBe(Date.parse(issued.expires_at) / 1000);
        expect((item?.exp ?? 0) - (item?.iat ?? 0)).toBe(120);
        expect(answer.text).not.toContain(issued.grant);
        expect(answer.text).not.toContain(issued.grant.split(".")[2] ?? "signature");
      }
    });

    it("pages through the grants, oldest first, each exactly once; a refused issue is not listed", async () => {
      const tenant = await tenantWithSecrets();
      const jtis: string[] = [];
      for (let index = 0; index < 5; index += 1) {
        jtis.push((await env.api.issueGrant(tenant.admin, tenant.domain, { node_id: tenant.reader.node_id, action: `act-${String(index)}` })).body().jti);
      }
      expect((await env.api.issueGrant(await env.idToken("alice", "password"), tenant.domain, { node_id: tenant.reader.node_id, action: "refused" })).status).toBe(401);
      const { items, pages } = await allPages((cursor) => env.api.listGrants(auditor, tenant.domain, { limit: 2, ...(cursor === undefined ? {} : { cursor }) }));
      expect(pages).toBe(3);
      expect(items.map((item) => item.jti)).toEqual(jtis);
    });
  });
});
