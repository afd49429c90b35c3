import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Authorizer } from "../../src/authz/authorizer.ts";
import { CustosError } from "../../src/platform/errors.ts";
import { startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";

/**
 * Enrollment whose SpiceDB write fails must leave no node behind: an active node with a key
 * that nobody was ever given is clutter an attacker could later try to claim.
 */
describe("enrolling a node while SpiceDB refuses writes", () => {
  let env: CustosWithProvider;
  let writesFail = false;

  beforeAll(async () => {
    env = await startCustosWithProvider({
      decorateAuthorizer: (real: Authorizer): Authorizer => ({
        readiness: real.readiness,
        check: (request, consistency) => real.check(request, consistency),
        readRelationships: (filter, consistency) => real.readRelationships(filter, consistency),
        writeRelationships: (touch, remove) =>
          writesFail
            ? Promise.reject(new CustosError("authz_unavailable", { detail: "the authorization service is unavailable" }))
            : real.writeRelationships(touch, remove),
      }),
    });
  });
  afterAll(async () => {
    await env.close();
  });

  it("answers 503 authz_unavailable and stores no node and no key", async () => {
    const admin = await env.idToken("alice", "mfa");
    writesFail = true;
    const response = await env.api.enroll(admin, "acme", "web-1");
    writesFail = false;
    expect(response.status).toBe(503);
    expect(response.problem).toMatchObject({ code: "authz_unavailable" });
    expect(await env.custos.db.query("SELECT id FROM nodes")).toEqual([]);
    expect(await env.custos.db.query("SELECT kid FROM node_secret_keys")).toEqual([]);
  });
});
