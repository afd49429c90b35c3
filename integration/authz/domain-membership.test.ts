import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { relationship, type Authorizer, type Relationship } from "../../src/authz/authorizer.ts";
import { SpiceDbDomainMembership } from "../../src/authz/domain-membership.ts";
import { domainRef, nodeRef, userRef } from "../../src/authz/object-ids.ts";
import type { SpiceDbAuthorizer } from "../../src/authz/spicedb-authorizer.ts";
import { domainSubject } from "../../src/identity/domains/domain.ts";
import { embeddedAuthorizer } from "./support.ts";

interface Write {
  readonly touch: readonly Relationship[];
  readonly remove: readonly Relationship[];
}

/** The real authorizer, with every write it is asked to make recorded. */
function recording(inner: Authorizer, writes: Write[]): Authorizer {
  return {
    readiness: inner.readiness,
    check: (request, consistency) => inner.check(request, consistency),
    readRelationships: (filter, consistency) => inner.readRelationships(filter, consistency),
    writeRelationships: (touch, remove) => {
      writes.push({ touch, remove });
      return inner.writeRelationships(touch, remove);
    },
  };
}

const member = (domain: string, relation: "admin" | "auditor", sub: string): Relationship =>
  relationship(domainRef(domain), relation, userRef(domainSubject(domain, sub)));

describe("SpiceDbDomainMembership", () => {
  let authz: SpiceDbAuthorizer;
  let membership: SpiceDbDomainMembership;
  const writes: Write[] = [];

  async function membersOf(domain: string): Promise<string[]> {
    const rels = await authz.readRelationships({ resourceType: "domain", resourceId: domainRef(domain).id });
    return rels.map((rel) => `${rel.relation}:${rel.subject.id}`).sort();
  }

  beforeAll(async () => {
    authz = await embeddedAuthorizer();
    membership = new SpiceDbDomainMembership(recording(authz, writes));
  });
  afterAll(() => { authz.close(); });

  it("writes the initial members", async () => {
    await membership.replaceMembers("acme", { admins: ["alice@example.com", "bob"], auditors: ["carol"] });
    expect(await membersOf("acme")).toEqual([
      `admin:${userRef(domainSubject("acme", "alice@example.com")).id}`,
      `admin:${userRef(domainSubject("acme", "bob")).id}`,
      `auditor:${userRef(domainSubject("acme", "carol")).id}`,
    ].sort());
  });

  it("touches only what is missing and deletes only what is extra, in one write", async () => {
    writes.length = 0;
    await membership.replaceMembers("acme", { admins: ["bob", "dave"], auditors: ["alice@example.com"] });
    expect(writes).toHaveLength(1);
    expect(writes[0]!.touch).toEqual([member("acme", "admin", "dave"), member("acme", "auditor", "alice@example.com")]);
    expect(writes[0]!.remove).toEqual(expect.arrayContaining([member("acme", "admin", "alice@example.com"), member("acme", "auditor", "carol")]));
    expect(writes[0]!.remove).toHaveLength(2);
    const alice = userRef(domainSubject("acme", "alice@example.com"));
    expect(await authz.check({ resource: domainRef("acme"), permission: "administer", subject: alice })).toBe(false);
    expect(await authz.check({ resource: domainRef("acme"), permission: "audit", subject: alice })).toBe(true);
  });

  it("writes nothing when nothing changes", async () => {
    writes.length = 0;
    await membership.replaceMembers("acme", { admins: ["dave", "bob", "bob"], auditors: ["alice@example.com"] });
    expect(writes).toHaveLength(0);
  });

  it("diffs against what SpiceDB holds, so a stray admin left by a failed PUT is removed", async () => {
    await authz.writeRelationships([member("acme", "admin", "mallory")], []);
    await membership.replaceMembers("acme", { admins: ["bob", "dave"], auditors: ["alice@example.com"] });
    expect(await membersOf("acme")).not.toContain(`admin:${userRef(domainSubject("acme", "mallory")).id}`);
  });

  it("leaves other domains and nodes' domain links alone", async () => {
    await membership.replaceMembers("globex", { admins: ["bob"], auditors: [] });
    const node = nodeRef("3f2c1a6e-0d4b-4e8f-9a1b-2c3d4e5f6a7b");
    await authz.writeRelationships([relationship(node, "domain", domainRef("acme"))], []);
    await membership.replaceMembers("acme", { admins: [], auditors: [] });
    expect(await membersOf("acme")).toEqual([]);
    expect(await membersOf("globex")).toEqual([`admin:${userRef(domainSubject("globex", "bob")).id}`]);
    expect(await authz.readRelationships({ resourceType: "node", resourceId: node.id })).toHaveLength(1);
  });

  it("serialises concurrent replacements of one domain: the last one wins", async () => {
    await Promise.all([
      membership.replaceMembers("initech", { admins: ["a"], auditors: [] }),
      membership.replaceMembers("initech", { admins: ["b"], auditors: [] }),
      membership.replaceMembers("initech", { admins: ["c"], auditors: ["d"] }),
    ]);
    expect(await membersOf("initech")).toEqual([
      `admin:${userRef(domainSubject("initech", "c")).id}`,
      `auditor:${userRef(domainSubject("initech", "d")).id}`,
    ]);
  });
});
