import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServeProcess, type ServeProcess } from "../support/serve-process.ts";
import { startSpiceDbGrpcFixture } from "../support/spicedb-grpc-fixture.ts";
import { createIsolatedStore, type IsolatedStore } from "../support/stores.ts";
import { DOMAIN, SECRET, startReplicaDeployment, tally, type EnrolledNode, type ReplicaDeployment } from "./replica-deployment.ts";

const onServer = process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== "";

/**
 * Two `custos serve` processes on one PostgreSQL database and one SpiceDB server (the gRPC
 * fixture over one embedded engine), sharing one data directory. Everything is set up through
 * replica A; reads alternate between A and B. Bounded: a fixed number of requests on loopback.
 */
describe.skipIf(!onServer)("two custos serve replicas on one database and one SpiceDB server", () => {
  let deployment: ReplicaDeployment;
  let a: ServeProcess;
  let b: ServeProcess;
  let node: EnrolledNode;

  beforeAll(async () => {
    deployment = await startReplicaDeployment({ replicas: 2 });
    [a, b] = deployment.replicas as [ServeProcess, ServeProcess];
    node = await deployment.provision(a);
  });
  afterAll(async () => {
    await deployment.close();
  });

  it("serves 400 reads alternately through A and B without an error, one granted record per 200, and the chain verifies", { timeout: 120_000 }, async () => {
    const before = await deployment.grantedReads();
    const reads = 400;
    const concurrency = 8;
    const statuses: number[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < reads) {
        const index = next;
        next += 1;
        statuses.push(await deployment.readSecret(index % 2 === 0 ? a : b, node));
      }
    }));

    expect(tally(statuses), `A: ${a.stderr()}\nB: ${b.stderr()}`).toEqual({ "200": reads });
    expect((await deployment.grantedReads()) - before).toBe(reads);
    const verified = await deployment.verifyChain();
    expect(verified.code, verified.output).toBe(0);
    expect(verified.ok).toBe(true);
    expect(verified.rows).toBeGreaterThan(reads);
    expect(a.alive() && b.alive()).toBe(true);

    // Both replicas asked the one shared server; neither ran an engine of its own.
    const stats = await deployment.spicedb.stats();
    expect((stats.CheckBulkPermissions ?? 0) + (stats.CheckPermission ?? 0)).toBeGreaterThan(0);
    expect(stats.WriteSchema).toBe(2);
    expect(stats.unauthenticated).toBeUndefined();
  });

  it("refuses the very next read through A after a revoke through B, and serves it again after a grant through B", async () => {
    const admin = await deployment.adminToken();
    const readers = `/v1/domains/${DOMAIN}/secrets/${SECRET}/readers/${node.node_id}`;
    for (let round = 0; round < 3; round += 1) {
      // A has just allowed the read and remembers it (read-decisions.ts): B's revoke must still win.
      expect(await deployment.readSecret(a, node)).toBe(200);
      expect((await deployment.call(b, "DELETE", readers, admin)).status).toBe(204);
      expect(await deployment.readSecret(a, node)).toBe(403);
      expect((await deployment.call(b, "PUT", readers, admin)).status).toBe(204);
      expect(await deployment.readSecret(a, node)).toBe(200);
      // And the other way round.
      expect((await deployment.call(a, "DELETE", readers, admin)).status).toBe(204);
      expect(await deployment.readSecret(b, node)).toBe(403);
      expect((await deployment.call(a, "PUT", readers, admin)).status).toBe(204);
      expect(await deployment.readSecret(b, node)).toBe(200);
    }
  });

  it("refuses the very next read through A after a quarantine through B, and serves it again once lifted through A", async () => {
    const admin = await deployment.adminToken();
    const quarantine = `/v1/domains/${DOMAIN}/nodes/${node.node_id}/quarantine`;
    expect((await deployment.call(b, "POST", quarantine, admin)).status).toBe(204);
    expect(await deployment.readSecret(a, node)).toBe(403);
    expect((await deployment.call(a, "DELETE", quarantine, admin)).status).toBe(204);
    expect(await deployment.readSecret(b, node)).toBe(200);
    expect(await deployment.readSecret(a, node)).toBe(200);
  });

  // Such a replica would answer from an engine of its own, empty of every grant, and a revoke
  // made through it would answer 204 while the shared server still grants.
  it("refuses to start a replica without SPICEDB_ENDPOINT beside them, naming SPICEDB_ENDPOINT", async () => {
    const refusal = await startFailure(deployment.addReplica({ SPICEDB_ENDPOINT: "", SPICEDB_TOKEN: "", SPICEDB_INSECURE: "" }));
    expect(refusal).toMatch(/exited [1-9]\d* before serving/);
    expect(refusal).toMatch(/SPICEDB_ENDPOINT/);
    expect(await deployment.readSecret(a, node)).toBe(200);
    expect(await deployment.readSecret(b, node)).toBe(200);
  });
});

/**
 * The shared SpiceDB server goes away under two serving replicas: every read is refused (503
 * authz_unavailable, never a 200 without its check), nothing is audited as granted, both
 * processes stay up, and /readyz says they cannot serve. Bounded: a fixed number of reads.
 */
describe.skipIf(!onServer)("two replicas when their SpiceDB server goes away", () => {
  let deployment: ReplicaDeployment;
  let node: EnrolledNode;

  beforeAll(async () => {
    deployment = await startReplicaDeployment({ replicas: 2 });
    node = await deployment.provision(deployment.replicas[0]!);
  });
  afterAll(async () => {
    await deployment.close();
  });

  it("refuses every read with 503 on both replicas, audits no grant, stays up and reports not ready", { timeout: 120_000 }, async () => {
    const [a, b] = deployment.replicas as [ServeProcess, ServeProcess];
    expect(await deployment.readSecret(a, node)).toBe(200);
    expect(await deployment.readSecret(b, node)).toBe(200);
    await deployment.spicedb.close();
    const before = await deployment.grantedReads();

    const statuses = await Promise.all(Array.from({ length: 40 }, (_, index) => deployment.readSecret(index % 2 === 0 ? a : b, node)));
    expect(tally(statuses)).toEqual({ "503": 40 });
    expect(await deployment.grantedReads()).toBe(before);
    for (const replica of [a, b]) {
      expect(replica.alive(), replica.stderr()).toBe(true);
      const ready = await fetch(`${replica.url}/readyz`);
      expect(ready.status).toBe(503);
      const report = (await ready.json()) as { checks: Record<string, string> };
      expect(report.checks).toMatchObject({ authorizer: "unavailable", database: "ok" });
    }
    const verified = await deployment.verifyChain();
    expect(verified.code, verified.output).toBe(0);
  });
});

/** Why a replica did not start (its last words), or a note that it did (and is stopped). */
function startFailure(starting: Promise<ServeProcess>): Promise<string> {
  return starting.then(
    async (started) => {
      await started.stop();
      return "the replica started";
    },
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
}

/**
 * The embedded engine keeps relationships in one process: a second replica started without
 * SPICEDB_ENDPOINT on a database an embedded replica already serves must refuse to start,
 * saying what to set. Separate data directories: the refusal comes from the database.
 */
describe.skipIf(!onServer)("a second embedded-engine replica on the same database", () => {
  let store: IsolatedStore;
  let scratch: string;
  let first: ServeProcess;

  beforeAll(async () => {
    store = await createIsolatedStore("postgres");
    scratch = await mkdtemp(path.join(os.tmpdir(), "custos-embedded-lock-"));
    first = await startServeProcess({ ...store.env, CUSTOS_DATA_DIR: path.join(scratch, "first") });
  });
  afterAll(async () => {
    await first.stop();
    await store.dispose();
    await rm(scratch, { recursive: true, force: true });
  });

  it("exits non-zero before serving, naming SPICEDB_ENDPOINT, and the first keeps serving", async () => {
    const refusal = await startFailure(startServeProcess({ ...store.env, CUSTOS_DATA_DIR: path.join(scratch, "second") }));
    expect(refusal).toMatch(/exited [1-9]\d* before serving/);
    expect(refusal).toMatch(/SPICEDB_ENDPOINT/);
    expect(first.alive()).toBe(true);
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200);
  });

  it("refuses a replica with SPICEDB_ENDPOINT beside it too: the embedded engine's grants are not on that server", async () => {
    const spicedb = await startSpiceDbGrpcFixture();
    try {
      const refusal = await startFailure(startServeProcess({ ...store.env, ...spicedb.env, CUSTOS_DATA_DIR: path.join(scratch, "third") }));
      expect(refusal).toMatch(/exited [1-9]\d* before serving/);
      expect(refusal).toMatch(/embedded SpiceDB engine/);
    } finally {
      await spicedb.close();
    }
    expect(first.alive()).toBe(true);
  });
});
