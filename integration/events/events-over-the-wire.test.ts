import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWK, type JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRecords } from "../../src/audit/audit-store.ts";
import type { EnrolledNode } from "../support/api-client.ts";
import { nodeBearer, startCustosWithProvider, type CustosWithProvider, type Tenant } from "../support/custos-with-provider.ts";
import { openEventStream, type EventStreamClient, type StreamItem } from "../support/event-stream-client.ts";

const SECRET = "db-password";
type PublishedJwk = JWK & { readonly kid: string; readonly custos_use: string };

/**
 * Issue 19 over the wire, on the in-process bus: signed events reach a node's open stream,
 * verify against the domain JWKS's event keys, resume with Last-Event-ID, and the stream obeys
 * the node's state. One server for the file; each test has a domain and nodes of its own.
 */
describe("signed events over SSE (in-process bus)", () => {
  let env: CustosWithProvider;
  const open: EventStreamClient[] = [];

  beforeAll(async () => {
    env = await startCustosWithProvider({ env: { EVENTS_HEARTBEAT_SECONDS: "1" } });
  });
  afterAll(async () => {
    for (const stream of open) stream.close();
    await env.close();
  });

  async function stream(node: EnrolledNode, options: { lastEventId?: string; bearer?: string } = {}): Promise<EventStreamClient> {
    const opened = await openEventStream(env.server.url, node.node_id, options.bearer ?? nodeBearer(node), options);
    open.push(opened);
    return opened;
  }
  function nodeOf(tenant: Tenant, index = 0): EnrolledNode {
    const node = tenant.nodes[index];
    if (node === undefined) throw new Error("the tenant has that node");
    return node;
  }
  async function jwksOf(domain: string): Promise<PublishedJwk[]> {
    return ((await env.api.jwks(domain)).json as { keys: PublishedJwk[] }).keys;
  }
  /** Verifies as an agent does: the domain's event keys only, typ, alg, iss, aud, exp. */
  async function verified(domain: string, node: EnrolledNode, item: StreamItem): Promise<JWTPayload & { type: string; data: Record<string, unknown> }> {
    if (item.kind !== "event") throw new Error(`expected an event, got ${item.kind}`);
    expect(item.event).toBe("custos-event");
    const eventKeys = (await jwksOf(domain)).filter((key) => key.custos_use === "event");
    const { payload } = await jwtVerify(item.data, createLocalJWKSet({ keys: eventKeys }), {
      typ: "custos-event+jwt", algorithms: ["EdDSA"], issuer: `urn:custos:domain:${domain}`, audience: `node:${node.node_id}`, requiredClaims: ["exp", "iat", "jti"],
    });
    return payload as JWTPayload & { type: string; data: Record<string, unknown> };
  }
  async function publishRecords(domain: string) {
    return (await readRecords(env.custos.db, domain, 0, 1_000_000)).filter((record) => record.action === "event.publish");
  }
  async function tenantWithReader(nodes: readonly string[] = ["reader"]): Promise<Tenant> {
    const tenant = await env.freshTenant({ nodes });
    expect((await env.api.writeSecret(tenant.admin, tenant.domain, SECRET, { value: "v1" })).status).toBe(201);
    for (const node of tenant.nodes) expect((await env.api.addReader(tenant.admin, tenant.domain, SECRET, node.node_id)).status).toBe(204);
    return tenant;
  }

  it("delivers a verifiable secret.updated to a reader after a write: exact header, iss, aud, 22-character jti, exp = iat + 60", async () => {
    const tenant = await tenantWithReader();
    const reader = nodeOf(tenant);
    const events = await stream(reader);
    expect(events.status).toBe(200);
    expect(events.headers.get("content-type")).toBe("text/event-stream");
    expect(events.headers.get("cache-control")).toBe("no-store");
    expect((await env.api.writeSecret(tenant.admin, tenant.domain, SECRET, { value: "v2" })).status).toBe(200);
    const item = await events.nextEvent();
    const claims = await verified(tenant.domain, reader, item);
    expect(claims).toMatchObject({ type: "secret.updated", data: { name: SECRET, version: 2 } });
    expect(claims.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(60);
    if (item.kind !== "event") throw new Error("an event");
    const header = decodeProtectedHeader(item.data);
    expect(Object.keys(header).sort()).toEqual(["alg", "kid", "typ"]);
    // The kid is an event key: no grant key verifies it, and it is what enrollment pinned.
    const keys = await jwksOf(tenant.domain);
    const signer = keys.find((key) => key.kid === header.kid);
    expect(signer).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig", custos_use: "event" });
    expect(await calculateJwkThumbprint(signer as JWK, "sha256")).toBe(reader.event_key_thumbprint);
  });

  it("audits one event.publish per batch, naming the type, the kid and every recipient's node id and jti", async () => {
    const tenant = await tenantWithReader(["a", "b"]);
    const [a, b] = [nodeOf(tenant, 0), nodeOf(tenant, 1)];
    const [streamA, streamB] = [await stream(a), await stream(b)];
    const before = (await publishRecords(tenant.domain)).length;
    const written = await env.api.writeSecret(tenant.admin, tenant.domain, SECRET, { value: "v2" });
    const jtiA = (await verified(tenant.domain, a, await streamA.nextEvent())).jti;
    const jtiB = (await verified(tenant.domain, b, await streamB.nextEvent())).jti;
    const records = (await publishRecords(tenant.domain)).slice(before);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      actor: "custos", decision: "recorded", resource: `domain:${tenant.domain}`, request_id: written.requestId,
      details: { type: "secret.updated", recipients: expect.arrayContaining([{ node_id: a.node_id, jti: jtiA }, { node_id: b.node_id, jti: jtiB }]) as unknown },
    });
  });

  it("publishes nothing when the audit store refuses the event.publish record: the write stands, the open stream gets no event, the failure is counted", async () => {
    const tenant = await tenantWithReader();
    const reader = nodeOf(tenant);
    const events = await stream(reader);
    const failures = async () => /custos_event_publish_failures_total\{type="secret.updated"\} (\d+)/.exec(await (await fetch(`${env.server.url}/metrics`)).text())?.[1] ?? "0";
    const before = Number(await failures());
    const recordsBefore = (await publishRecords(tenant.domain)).length;
    // The audit store itself refuses: a trigger on the chain's table, for this domain's event records only.
    await env.custos.db.query(`CREATE FUNCTION refuse_event_audit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.action = 'event.publish' AND NEW.chain = '${tenant.domain}' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$`);
    await env.custos.db.query("CREATE TRIGGER refuse_event_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_event_audit()");
    try {
      expect((await env.api.writeSecret(tenant.admin, tenant.domain, SECRET, { value: "v2" })).status).toBe(200);
      // A heartbeat, then another: no event came between (the publish was refused before the bus).
      expect((await events.next()).kind).toBe("heartbeat");
      expect((await events.next()).kind).toBe("heartbeat");
      expect(Number(await failures())).toBe(before + 1);
      expect(await publishRecords(tenant.domain)).toHaveLength(recordsBefore);
    } finally {
      await env.custos.db.query("DROP TRIGGER refuse_event_audit ON audit_events");
      await env.custos.db.query("DROP FUNCTION refuse_event_audit()");
    }
    expect((await env.api.writeSecret(tenant.admin, tenant.domain, SECRET, { value: "v3" })).status).toBe(200);
    expect(await verified(tenant.domain, reader, await events.nextEvent())).toMatchObject({ type: "secret.updated", data: { version: 3 } });
  });

  it("resumes after Last-Event-ID without repeats, and sends nothing old without it; heartbeats arrive", async () => {
    const tenant = await tenantWithReader();
    const reader = nodeOf(tenant);
    const first = await stream(reader);
    await env.api.writeSecret(tenant.admin, tenant.domain, SECRET, { value: "v2" });
    await env.api.writeSecret(tenant.admin, tenant.domain, SECRET, { value: "v3" });
    const two = await first.nextEvent();
    const three = await first.nextEvent();
    if (two.kind !== "event" || three.kind !== "event") throw new Error("two events");
    expect(three.id).toBeGreaterThan(two.id);
    first.close();
    await env.api.writeSecret(tenant.admin, tenant.domain, SECRET, { value: "v4" });

    const resumed = await stream(reader, { lastEventId: String(two.id) });
    const versions = [];
    for (let i = 0; i < 2; i += 1) versions.push((await verified(tenant.domain, reader, await resumed.nextEvent())).data.version);
    expect(versions).toEqual([3, 4]);
    // Nothing repeats: the next thing is a heartbeat, not an old event.
    expect((await resumed.next()).kind).toBe("heartbeat");
    resumed.close();

    const fresh = await stream(reader);
    expect((await fresh.next()).kind).toBe("heartbeat");
  });

  it("quarantine delivers node.quarantined and ends the stream; reconnecting is 403 node_quarantined; after the lift a new stream gets node.released", async () => {
    const tenant = await env.freshTenant({ nodes: ["web"] });
    const node = nodeOf(tenant);
    const events = await stream(node);
    expect((await env.api.quarantine(tenant.admin, tenant.domain, node.node_id)).status).toBe(204);
    const quarantined = await events.nextEvent();
    expect((await verified(tenant.domain, node, quarantined)).type).toBe("node.quarantined");
    expect((await events.nextEvent()).kind).toBe("end");
    const refused = await stream(node);
    expect(refused.status).toBe(403);
    expect(refused.problem?.code).toBe("node_quarantined");
    expect((await env.api.liftQuarantine(tenant.admin, tenant.domain, node.node_id)).status).toBe(204);
    if (quarantined.kind !== "event") throw new Error("an event");
    const again = await stream(node, { lastEventId: String(quarantined.id) });
    expect(again.status).toBe(200);
    expect((await verified(tenant.domain, node, await again.nextEvent())).type).toBe("node.released");
  });

  it("decommissioning ends the node's open stream", async () => {
    const tenant = await env.freshTenant({ nodes: ["web"] });
    const events = await stream(nodeOf(tenant));
    expect((await env.api.decommission(tenant.admin, tenant.domain, nodeOf(tenant).node_id)).status).toBe(204);
    expect((await events.nextEvent()).kind).toBe("end");
  });

  it("refuses a bad bearer 401, a bad Last-Event-ID 400, and a third stream 429 event_stream_limit; a closed stream frees its slot", async () => {
    const tenant = await env.freshTenant({ nodes: ["web", "other"] });
    const node = nodeOf(tenant);
    const wrong = await stream(node, { bearer: nodeBearer(nodeOf(tenant, 1)) });
    expect(wrong.status).toBe(403);
    const bad = await stream(node, { bearer: `${node.kid}.${"A".repeat(43)}` });
    expect(bad.status).toBe(401);
    expect(bad.problem?.code).toBe("invalid_token");
    expect((await stream(node, { lastEventId: "soon" })).problem?.code).toBe("invalid_request");
    const one = await stream(node);
    const two = await stream(node);
    expect([one.status, two.status]).toEqual([200, 200]);
    const third = await stream(node);
    expect(third.status).toBe(429);
    expect(third.problem?.code).toBe("event_stream_limit");
    one.close();
    // The server notices the hang-up and releases the slot (no leaked subscription or timer).
    await expect.poll(() => env.custos.eventStreams.open(node.node_id), { timeout: 10_000 }).toBe(1);
    expect((await stream(node)).status).toBe(200);
  });

  it("sends secret.revoked to a removed reader and to every reader of a deleted secret; secret.updated to a new reader", async () => {
    const tenant = await tenantWithReader(["a", "b"]);
    const [a, b] = [nodeOf(tenant, 0), nodeOf(tenant, 1)];
    const [streamA, streamB] = [await stream(a), await stream(b)];
    expect((await env.api.removeReader(tenant.admin, tenant.domain, SECRET, a.node_id)).status).toBe(204);
    expect(await verified(tenant.domain, a, await streamA.nextEvent())).toMatchObject({ type: "secret.revoked", data: { name: SECRET } });
    expect((await env.api.addReader(tenant.admin, tenant.domain, SECRET, a.node_id)).status).toBe(204);
    expect(await verified(tenant.domain, a, await streamA.nextEvent())).toMatchObject({ type: "secret.updated", data: { name: SECRET, version: 1 } });
    expect((await env.api.deleteSecret(tenant.admin, tenant.domain, SECRET)).status).toBe(204);
    expect(await verified(tenant.domain, a, await streamA.nextEvent())).toMatchObject({ type: "secret.revoked", data: { name: SECRET } });
    expect(await verified(tenant.domain, b, await streamB.nextEvent())).toMatchObject({ type: "secret.revoked", data: { name: SECRET } });
  });

  it("sends grant.issued with the grant to its node", async () => {
    const tenant = await env.freshTenant({ nodes: ["web"] });
    const node = nodeOf(tenant);
    const events = await stream(node);
    const issued = (await env.api.issueGrant(tenant.admin, tenant.domain, { node_id: node.node_id, action: "ssh.login" })).body();
    expect(await verified(tenant.domain, node, await events.nextEvent())).toMatchObject({
      type: "grant.issued", data: { grant: issued.grant, jti: issued.jti, expires_at: issued.expires_at },
    });
  });

  it("rotate-request is step-up gated and audited, then sends nsk.rotate_requested", async () => {
    const tenant = await env.freshTenant({ nodes: ["web"] });
    const node = nodeOf(tenant);
    const events = await stream(node);
    const weak = await env.api.requestRotation(await env.idToken("alice", "password"), tenant.domain, node.node_id);
    expect(weak.status).toBe(401);
    expect(weak.problem?.code).toBe("step_up_required");
    const asked = await env.api.requestRotation(tenant.admin, tenant.domain, node.node_id);
    expect(asked.status).toBe(202);
    expect((await verified(tenant.domain, node, await events.nextEvent())).type).toBe("nsk.rotate_requested");
    const records = (await readRecords(env.custos.db, tenant.domain, 0, 1_000_000)).filter((record) => record.action === "node.rotate_request");
    expect(records.map((record) => record.decision)).toEqual(["denied", "granted"]);
    expect(records[1]?.request_id).toBe(asked.requestId);
  });

  it("event key rotation sends keys.rotated signed by the previous (pinned) key; the new key signs after, and both stay published", async () => {
    const tenant = await tenantWithReader();
    const node = nodeOf(tenant);
    const events = await stream(node);
    const rotated = await env.api.rotateEventKey(tenant.admin, tenant.domain);
    expect(rotated.status).toBe(200);
    const { kid, previous_kid: previousKid } = rotated.body();
    const announcement = await events.nextEvent();
    if (announcement.kind !== "event") throw new Error("an event");
    expect(decodeProtectedHeader(announcement.data).kid).toBe(previousKid);
    const previousKey = (await jwksOf(tenant.domain)).find((key) => key.kid === previousKid);
    expect(await calculateJwkThumbprint(previousKey as JWK, "sha256")).toBe(node.event_key_thumbprint);
    const claims = await verified(tenant.domain, node, announcement);
    expect(claims.type).toBe("keys.rotated");
    expect((claims.data.keys as PublishedJwk[]).map((key) => key.kid).sort()).toEqual([kid, previousKid].sort());
    await env.api.writeSecret(tenant.admin, tenant.domain, SECRET, { value: "v2" });
    const after = await events.nextEvent();
    if (after.kind !== "event") throw new Error("an event");
    expect(decodeProtectedHeader(after.data).kid).toBe(kid);
    await verified(tenant.domain, node, after);
    const password = await env.api.rotateEventKey(await env.idToken("alice", "password"), tenant.domain);
    expect(password.problem?.code).toBe("step_up_required");
  });
});
