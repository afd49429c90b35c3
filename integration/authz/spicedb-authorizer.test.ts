import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { relationship, type CheckRequest } from "../../src/authz/authorizer.ts";
import { domainRef, nodeRef, secretRef, userRef } from "../../src/authz/object-ids.ts";
import type { SpiceDbAuthorizer } from "../../src/authz/spicedb-authorizer.ts";
import { domainSubject } from "../../src/identity/domains/domain.ts";
import { codeOf, embeddedAuthorizer } from "./support.ts";

describe("SpiceDbAuthorizer on the embedded engine", () => {
  let authz: SpiceDbAuthorizer;
  const bulkSizes: number[] = [];

  beforeAll(async () => {
    authz = await embeddedAuthorizer({ hooks: { onCheckBulk: (items) => { bulkSizes.push(items); } } });
  });
  afterAll(() => { authz.close(); });

  it("writes policies/schema.zed at start and is ready", async () => {
    expect(authz.latestToken).toMatch(/.+/);
    await expect(authz.readiness.check()).resolves.toBeUndefined();
  });

  it("lets an admin of a domain act on that domain's nodes only", async () => {
    const alice = userRef(domainSubject("acme", "alice@example.com"));
    const acmeNode = nodeRef(randomUUID());
    const globexNode = nodeRef(randomUUID());
    await authz.writeRelationships([
      relationship(domainRef("acme"), "admin", alice),
      relationship(acmeNode, "domain", domainRef("acme")),
      relationship(globexNode, "domain", domainRef("globex")),
    ], []);
    expect(await authz.check({ resource: acmeNode, permission: "act", subject: alice })).toBe(true);
    expect(await authz.check({ resource: globexNode, permission: "act", subject: alice })).toBe(false);
    expect(await authz.check({ resource: domainRef("acme"), permission: "administer", subject: alice })).toBe(true);
    expect(await authz.check({ resource: domainRef("acme"), permission: "audit", subject: alice })).toBe(false);
  });

  it("lets the domain's admin write its secrets and only granted nodes read them", async () => {
    const bob = userRef(domainSubject("acme", "bob"));
    const secret = secretRef("acme", "db.password");
    const node = nodeRef(randomUUID());
    await authz.writeRelationships([
      relationship(domainRef("acme"), "admin", bob),
      relationship(secret, "domain", domainRef("acme")),
      relationship(secret, "reader", node),
    ], []);
    expect(await authz.check({ resource: secret, permission: "write", subject: bob })).toBe(true);
    expect(await authz.check({ resource: secret, permission: "read", subject: node })).toBe(true);
    expect(await authz.check({ resource: secretRef("acme", "other"), permission: "read", subject: node })).toBe(false);
    expect(await authz.check({ resource: secret, permission: "read", subject: nodeRef(randomUUID()) })).toBe(false);
  });

  it("refuses a revoked reader on the very next check, every time", async () => {
    const secret = secretRef("acme", "api-key");
    const node = nodeRef(randomUUID());
    const grant = relationship(secret, "reader", node);
    const read: CheckRequest = { resource: secret, permission: "read", subject: node };
    for (let round = 0; round < 20; round++) {
      await authz.writeRelationships([grant], []);
      expect(await authz.check(read)).toBe(true);
      await authz.writeRelationships([], [grant]);
      expect(await authz.check(read)).toBe(false);
    }
  });

  it("honours an explicit at_least_as_fresh token and fully_consistent", async () => {
    const secret = secretRef("acme", "tls.key");
    const node = nodeRef(randomUUID());
    const token = await authz.writeRelationships([relationship(secret, "reader", node)], []);
    expect(await authz.check({ resource: secret, permission: "read", subject: node }, { kind: "at_least_as_fresh", token })).toBe(true);
    expect(await authz.check({ resource: secret, permission: "read", subject: node }, { kind: "fully_consistent" })).toBe(true);
  });

  it("coalesces 200 concurrent checks into few bulk calls, each caller getting its own answer", async () => {
    const secret = secretRef("acme", "coalesced");
    const nodes = Array.from({ length: 200 }, () => nodeRef(randomUUID()));
    const granted = nodes.filter((_, i) => i % 3 === 0);
    await authz.writeRelationships(granted.map((node) => relationship(secret, "reader", node)), []);
    bulkSizes.length = 0;
    const answers = await Promise.all(nodes.map((node) => authz.check({ resource: secret, permission: "read", subject: node })));
    expect(answers).toEqual(nodes.map((_, i) => i % 3 === 0));
    expect(bulkSizes.reduce((a, b) => a + b, 0)).toBe(200);
    expect(bulkSizes.length).toBeLessThanOrEqual(4);
    expect(Math.max(...bulkSizes)).toBeLessThanOrEqual(64);
  });

  it("fails only the caller whose item SpiceDB could not evaluate", async () => {
    const node = nodeRef(randomUUID());
    const secret = secretRef("acme", "mixed");
    await authz.writeRelationships([relationship(secret, "reader", node)], []);
    const results = await Promise.allSettled([
      authz.check({ resource: secret, permission: "read", subject: node }),
      // A node has no `read` permission: SpiceDB answers this item with an error.
      authz.check({ resource: node, permission: "read", subject: node }),
      authz.check({ resource: secret, permission: "read", subject: nodeRef(randomUUID()) }),
    ]);
    expect(results[0]).toEqual({ status: "fulfilled", value: true });
    expect(results[1].status).toBe("rejected");
    expect(codeOf((results[1] as PromiseRejectedResult).reason)).toBe("authz_unavailable");
    expect(results[2]).toEqual({ status: "fulfilled", value: false });
  });

  it("reads relationships back as ObjectRefs, escaped ids included", async () => {
    const carol = userRef(domainSubject("readback", "carol+ops@example.com"));
    await authz.writeRelationships([relationship(domainRef("readback"), "auditor", carol)], []);
    const found = await authz.readRelationships({ resourceType: "domain", resourceId: domainRef("readback").id });
    expect(found).toEqual([relationship(domainRef("readback"), "auditor", carol)]);
  });

  it("answers authz_unavailable once closed", async () => {
    const other = await embeddedAuthorizer();
    other.close();
    const error: unknown = await other.check({ resource: secretRef("acme", "x"), permission: "read", subject: nodeRef(randomUUID()) }).catch((e: unknown) => e);
    expect(codeOf(error)).toBe("authz_unavailable");
  });

  it("refuses a schema SpiceDB rejects with authz_unavailable", async () => {
    const error: unknown = await authz.writeSchema("definition broken {").catch((e: unknown) => e);
    expect(codeOf(error)).toBe("authz_unavailable");
    // After a write whose outcome is unknown, checks still answer (fully consistent).
    const node = nodeRef(randomUUID());
    expect(await authz.check({ resource: secretRef("acme", "x"), permission: "read", subject: node })).toBe(false);
  });
});
