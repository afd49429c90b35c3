import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Authorizer, CheckRequest, Consistency } from "../../src/authz/authorizer.ts";
import { deriveBearerSecret, formatNodeBearer } from "../../src/nodes/nsk.ts";
import { startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";

/**
 * A revoke must hold on every replica's next read, not only on the replica that made it: the
 * revision of each change to a secret's readers is kept with the secret, and reads are
 * checked at least as fresh as it.
 */
describe("secret reads checked at least as fresh as the last change to the readers", () => {
  let env: CustosWithProvider;
  const checks: { request: CheckRequest; consistency: Consistency | undefined }[] = [];
  let admin: string;
  let node: { node_id: string; kid: string; nsk: string };

  const call = (method: string, path: string, token: string, body?: unknown) =>
    fetch(`${env.server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const bearer = () => formatNodeBearer(node.kid, deriveBearerSecret(Buffer.from(node.nsk, "base64url")));
  const read = () => call("GET", `/v1/nodes/${node.node_id}/secrets/api-key`, bearer());
  const storedRevision = async () =>
    (await env.custos.db.query<{ authz_revision: string | null }>("SELECT authz_revision FROM secrets WHERE domain = 'acme' AND name = 'api-key'"))[0]?.authz_revision;
  const lastReadCheck = () => checks.filter((c) => c.request.permission === "read").at(-1);

  beforeAll(async () => {
    env = await startCustosWithProvider({
      decorateAuthorizer: (real: Authorizer): Authorizer => ({
        check: (request, consistency) => {
          checks.push({ request, consistency });
          return real.check(request, consistency);
        },
        writeRelationships: (touch, remove) => real.writeRelationships(touch, remove),
        readRelationships: (filter, consistency) => real.readRelationships(filter, consistency),
        readiness: real.readiness,
      }),
    });
    admin = await env.idToken("alice", "mfa");
    node = (await (await call("POST", "/v1/domains/acme/nodes", admin, { name: "api-1" })).json()) as typeof node;
    expect((await call("PUT", "/v1/domains/acme/secrets/api-key", admin, { value: "k-123" })).status).toBe(201);
  });
  afterAll(async () => {
    await env.close();
  });

  it("stores the revision of each reader change and checks the next read against it", async () => {
    expect((await call("PUT", `/v1/domains/acme/secrets/api-key/readers/${node.node_id}`, admin)).status).toBe(204);
    const granted = await storedRevision();
    expect(granted).toEqual(expect.any(String));
    expect((await read()).status).toBe(200);
    expect(lastReadCheck()?.consistency).toEqual({ kind: "at_least_as_fresh", token: granted });

    expect((await call("DELETE", `/v1/domains/acme/secrets/api-key/readers/${node.node_id}`, admin)).status).toBe(204);
    const revoked = await storedRevision();
    expect(revoked).not.toBe(granted);
    expect((await read()).status).toBe(403);
    expect(lastReadCheck()?.consistency).toEqual({ kind: "at_least_as_fresh", token: revoked });
  });

  it("refuses the first read made after a revoke has answered, even with earlier reads still in flight", async () => {
    // Checks are batched while a call is in flight (src/platform/coalescer.ts): a read queued behind
    // reads that started before the revoke must still be checked at the revoke's revision.
    expect((await call("PUT", `/v1/domains/acme/secrets/api-key/readers/${node.node_id}`, admin)).status).toBe(204);
    expect((await read()).status).toBe(200);
    const inFlight = Array.from({ length: 20 }, () => read());
    expect((await call("DELETE", `/v1/domains/acme/secrets/api-key/readers/${node.node_id}`, admin)).status).toBe(204);
    const revoked = await storedRevision();
    const checksBefore = checks.length;
    expect((await read()).status).toBe(403);
    // The refusal came from a check at the revoke's revision, made for this very read.
    expect(checks.length).toBeGreaterThan(checksBefore);
    expect(lastReadCheck()?.consistency).toEqual({ kind: "at_least_as_fresh", token: revoked });
    for (const answer of await Promise.all(inFlight)) expect([200, 403]).toContain(answer.status);
  });

  it("times every stage of a granted read in /metrics", async () => {
    expect((await call("PUT", `/v1/domains/acme/secrets/api-key/readers/${node.node_id}`, admin)).status).toBe(204);
    expect((await read()).status).toBe(200);
    const exposition = await (await fetch(`${env.server.url}/metrics`)).text();
    for (const stage of ["authenticateNode", "limit(secret-reads-per-node)", "limit(secret-reads-per-domain)", "readNodeSecret", "authz.check", "audit.append", "backend.read", "wrap"]) {
      const prefix = `custos_stage_duration_seconds_count{stage="${stage}"} `;
      const count = exposition.split("\n").find((line) => line.startsWith(prefix))?.slice(prefix.length);
      expect(Number(count), stage).toBeGreaterThan(0);
    }
  });

  it("asks SpiceDB for its newest data for decisions about people (admins, auditors, who may act on a node)", async () => {
    // Another replica may have just added or removed the admin: a cached revision would
    // deny the new one, or still allow the removed one, for seconds.
    checks.length = 0;
    expect((await call("PUT", `/v1/domains/acme/secrets/api-key/readers/${node.node_id}`, admin)).status).toBe(204);
    expect((await call("POST", "/v1/domains/acme/grants", admin, { node_id: node.node_id, action: "ssh.login" })).status).toBe(201);
    const aboutPeople = checks.filter((c) => c.request.permission === "administer" || c.request.permission === "act");
    expect(aboutPeople.map((c) => c.request.permission).sort()).toEqual(["act", "administer"]);
    for (const check of aboutPeople) expect(check.consistency).toEqual({ kind: "fully_consistent" });
  });
});
