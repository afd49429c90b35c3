import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { relationship } from "../../src/authz/authorizer.ts";
import { domainRef, nodeRef, secretRef } from "../../src/authz/object-ids.ts";
import { openSpiceDbAuthorizer, type SpiceDbAuthorizer } from "../../src/authz/spicedb-authorizer.ts";
import { codeOf, POLICIES_DIR } from "../authz/support.ts";
import { startSpiceDbGrpcFixture, type SpiceDbGrpcFixture } from "../support/spicedb-grpc-fixture.ts";

/**
 * The fixture the replica tests point SPICEDB_ENDPOINT at: Custos's own server client (the
 * path production takes) writes the schema, relationships, checks and reads through it, two
 * clients see one store, and a wrong preshared key is refused.
 */
describe("the SpiceDB-over-gRPC test fixture", () => {
  let fixture: SpiceDbGrpcFixture;
  let first: SpiceDbAuthorizer;
  let second: SpiceDbAuthorizer;
  const node = nodeRef("11111111-1111-4111-8111-111111111111");
  const secret = secretRef("acme", "api-key");

  beforeAll(async () => {
    fixture = await startSpiceDbGrpcFixture();
    const server = { endpoint: fixture.endpoint, token: fixture.token, insecure: true };
    first = await openSpiceDbAuthorizer({ server, policiesDir: POLICIES_DIR });
    second = await openSpiceDbAuthorizer({ server, policiesDir: POLICIES_DIR });
  });
  afterAll(async () => {
    first.close();
    second.close();
    await fixture.close();
  });

  it("answers Custos's server client, and two clients share one store", async () => {
    const grant = await first.writeRelationships([
      relationship(node, "domain", domainRef("acme")),
      relationship(secret, "domain", domainRef("acme")),
      relationship(secret, "reader", node),
    ], []);
    expect(await second.check({ resource: secret, permission: "read", subject: node }, { kind: "at_least_as_fresh", token: grant })).toBe(true);
    const readers = await second.readRelationships({ resourceType: "secret", relation: "reader" }, { kind: "at_least_as_fresh", token: grant });
    expect(readers).toEqual([relationship(secret, "reader", node)]);
    await expect(second.readiness.check()).resolves.toBeUndefined();

    const revoke = await second.writeRelationships([], [relationship(secret, "reader", node)]);
    expect(await first.check({ resource: secret, permission: "read", subject: node }, { kind: "at_least_as_fresh", token: revoke })).toBe(false);

    const stats = await fixture.stats();
    expect(stats.WriteSchema).toBe(2);
    expect(stats.WriteRelationships).toBe(2);
    expect(stats.ReadRelationships).toBe(1);
    expect((stats.CheckBulkPermissions ?? 0) + (stats.CheckPermission ?? 0)).toBeGreaterThanOrEqual(2);
  });

  it("refuses a wrong preshared key: the authorizer cannot start", async () => {
    const error = await openSpiceDbAuthorizer({ server: { endpoint: fixture.endpoint, token: "not-the-key", insecure: true }, policiesDir: POLICIES_DIR })
      .then(() => undefined, (refusal: unknown) => refusal);
    expect(codeOf(error)).toBe("authz_unavailable");
    expect((await fixture.stats()).unauthenticated).toBeGreaterThanOrEqual(1);
  });
});
