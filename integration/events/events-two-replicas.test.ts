import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createLocalJWKSet, jwtVerify, type JWK } from "jose";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deriveBearerSecret, formatNodeBearer } from "../../src/nodes/nsk.ts";
import { DOMAIN, SECRET, startReplicaDeployment, type EnrolledNode, type ReplicaDeployment } from "../faults/replica-deployment.ts";
import { openEventStream, type StreamItem } from "../support/event-stream-client.ts";
import { startAgentProcess } from "../agent/support/agent-process.ts";
import { deleteStream, isolatedStream } from "./nats-fixture.ts";

const NATS = process.env.NATS_TEST_URL ?? "";
const SERVER = process.env.DATABASE_URL ?? "";

/**
 * Two `custos serve` replicas on one PostgreSQL database and one SpiceDB server, sharing the
 * deployment's JetStream stream: a secret written through replica A reaches a stream open on
 * replica B, and B resumes it with Last-Event-ID after the node reconnects.
 */
describe.skipIf(NATS === "" || SERVER === "")("signed events across two replicas (NATS JetStream)", () => {
  const { stream, subjectPrefix } = isolatedStream("REPLICAS");
  let deployment: ReplicaDeployment;
  let node: EnrolledNode;

  beforeAll(async () => {
    deployment = await startReplicaDeployment({ replicaEnv: { NATS_URL: NATS, NATS_STREAM: stream, NATS_SUBJECT_PREFIX: subjectPrefix } });
    const [a] = deployment.replicas;
    if (a === undefined) throw new Error("two replicas");
    node = await deployment.provision(a);
  });
  afterAll(async () => {
    await deployment.close();
    await deleteStream(NATS, stream);
  });

  const bearer = () => formatNodeBearer(node.kid, deriveBearerSecret(Buffer.from(node.nsk, "base64url")));
  /** Verified as an agent verifies it: the event keys of the JWKS `via` publishes, typ, alg, iss, aud. */
  async function claimsOf(item: StreamItem, via: string): Promise<Record<string, unknown>> {
    if (item.kind !== "event") throw new Error(`expected an event, got ${item.kind}`);
    const { keys } = (await (await fetch(`${via}/v1/domains/${DOMAIN}/jwks.json`)).json()) as { keys: (JWK & { custos_use: string })[] };
    const { payload } = await jwtVerify(item.data, createLocalJWKSet({ keys: keys.filter((key) => key.custos_use === "event") }), {
      typ: "custos-event+jwt", algorithms: ["EdDSA"], issuer: `urn:custos:domain:${DOMAIN}`, audience: `node:${node.node_id}`,
    });
    return payload;
  }
  async function versionIn(item: StreamItem, via: string): Promise<unknown> {
    const payload = await claimsOf(item, via);
    expect(payload).toMatchObject({ type: "secret.updated", data: { name: SECRET } });
    return (payload.data as { version: unknown }).version;
  }

  it("a write through A reaches B's stream; B resumes after Last-Event-ID without repeats", async () => {
    const [a, b] = deployment.replicas;
    if (a === undefined || b === undefined) throw new Error("two replicas");
    const ready = (await (await fetch(`${b.url}/readyz`)).json()) as { checks: Record<string, string> };
    expect(ready.checks.nats).toBe("ok");
    const admin = await deployment.adminToken();
    const onB = await openEventStream(b.url, node.node_id, bearer());
    expect(onB.status).toBe(200);
    expect((await deployment.call(a, "PUT", `/v1/domains/${DOMAIN}/secrets/${SECRET}`, admin, { value: "v2" })).status).toBe(200);
    const first = await onB.nextEvent();
    expect(await versionIn(first, b.url)).toBe(2);
    onB.close();
    if (first.kind !== "event") throw new Error("an event");

    expect((await deployment.call(a, "PUT", `/v1/domains/${DOMAIN}/secrets/${SECRET}`, admin, { value: "v3" })).status).toBe(200);
    const resumed = await openEventStream(b.url, node.node_id, bearer(), { lastEventId: String(first.id) });
    const next = await resumed.nextEvent();
    expect(await versionIn(next, b.url)).toBe(3);
    if (next.kind !== "event") throw new Error("an event");
    expect(next.id).toBeGreaterThan(first.id);
    resumed.close();
  });

  it("a quarantine through A ends the node's stream on B right after node.quarantined", async () => {
    const [a, b] = deployment.replicas;
    if (a === undefined || b === undefined) throw new Error("two replicas");
    const admin = await deployment.adminToken();
    const onB = await openEventStream(b.url, node.node_id, bearer());
    expect(onB.status).toBe(200);
    expect((await deployment.call(a, "POST", `/v1/domains/${DOMAIN}/nodes/${node.node_id}/quarantine`, admin)).status).toBe(204);
    expect((await claimsOf(await onB.nextEvent(), b.url)).type).toBe("node.quarantined");
    expect((await onB.nextEvent()).kind).toBe("end");
    expect((await deployment.call(a, "DELETE", `/v1/domains/${DOMAIN}/nodes/${node.node_id}/quarantine`, admin)).status).toBe(204);
  });

  it("an agent following replica B rewrites its file, atomically, for each write through replica A", async () => {
    const [a, b] = deployment.replicas;
    if (a === undefined || b === undefined) throw new Error("two replicas");
    const dir = await mkdtemp(path.join(os.tmpdir(), "custos-agent-replicas-"));
    await writeFile(path.join(dir, "node.nsk"), `${node.nsk}\n`, { mode: 0o600 });
    await writeFile(path.join(dir, "agent.yaml"), stringify({
      url: b.url, domain: DOMAIN, node_id: node.node_id, kid: node.kid, nsk_file: "node.nsk", reconnect_max_seconds: 1,
      secrets: [{ name: SECRET, path: "secret" }],
    }));
    const agent = startAgentProcess(["--config", path.join(dir, "agent.yaml")]);
    const secretFile = path.join(dir, "secret");
    try {
      await agent.waitForLog((line) => line.msg === "full sync done");
      const admin = await deployment.adminToken();
      const values = Array.from({ length: 5 }, (_, n) => `value-${String(n).repeat(2000)}`);
      // A reader polling the file while the agent rewrites it: it sees whole values only.
      const seen = new Set<string>();
      const polling = { on: true };
      const poller = (async () => {
        while (polling.on) {
          seen.add(await readFile(secretFile, "utf8"));
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      for (const value of values) {
        const from = agent.logs().length;
        expect((await deployment.call(a, "PUT", `/v1/domains/${DOMAIN}/secrets/${SECRET}`, admin, { value })).status).toBe(200);
        await agent.waitForLog((line) => line.msg === "secret written", from);
        expect(await readFile(secretFile, "utf8")).toBe(value);
      }
      polling.on = false;
      await poller;
      for (const content of seen) expect([...values, "v3", "v2", "s3cret-value"]).toContain(content);
    } finally {
      await agent.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
