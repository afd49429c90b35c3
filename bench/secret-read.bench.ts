/**
 * `npm run bench -- secret-read [--reads 10000]`
 *
 * Secret reads per second and p50/p99 latency at 32 concurrent connections, over HTTP,
 * against a baseline endpoint in the same process that does one durable INSERT per request
 * at the same concurrency. Then: the number of 200 answers equals the number of granted
 * audit records, and the chain verifies. PostgreSQL server (DATABASE_URL), embedded SpiceDB,
 * local secret backend; rate limits raised so that they do not cap the measurement.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import express from "express";
import postgres from "postgres";
import { streamRecordPages } from "../src/audit/audit-store.ts";
import { verifyChain } from "../src/audit/audit-verifier.ts";
import { relationship } from "../src/authz/authorizer.ts";
import { domainRef, nodeRef, secretRef } from "../src/authz/object-ids.ts";
import { buildCustos, listen } from "../src/custos.ts";
import { createDomainRepository } from "../src/identity/domains/domain-repo.ts";
import { issueNodeKey } from "../src/nodes/node-keys.ts";
import { createNodeRepository } from "../src/nodes/node-repo.ts";
import { deriveBearerSecret, formatNodeBearer } from "../src/nodes/nsk.ts";
import { POLICIES_DIR } from "../src/package-paths.ts";
import { loadConfig } from "../src/platform/config.ts";
import { openPostgres } from "../src/platform/db/connect.ts";

const readsArg = process.argv.indexOf("--reads");
const READS = readsArg > 0 ? Number(process.argv[readsArg + 1]) : 10_000;
const CONNECTIONS = 32;

const url = process.env.DATABASE_URL;
if (url === undefined || url === "") {
  console.error("secret-read bench: set DATABASE_URL to a PostgreSQL server (the figures are meant for the server)");
  process.exit(2);
}
const dbName = `custos_bench_${randomBytes(4).toString("hex")}`;
const admin = postgres(url, { max: 1, onnotice: () => undefined });
await admin.unsafe(`CREATE DATABASE ${dbName}`);
const target = new URL(url);
target.pathname = `/${dbName}`;
const scratch = await mkdtemp(path.join(os.tmpdir(), "custos-bench-"));

/**
 * autocannon's own duration, and its end with `amount`, move in whole-second ticks: the rate
 * is taken from the first request to the last response instead.
 */
function run(options: autocannon.Options): Promise<autocannon.Result & { seconds: number }> {
  const started = performance.now();
  let lastResponse = started;
  return new Promise((resolve, reject) => {
    const instance = autocannon(options, (error, result) => {
      if (error) reject(error instanceof Error ? error : new Error(String(error)));
      else resolve({ ...result, seconds: (lastResponse - started) / 1000 });
    });
    instance.on("response", () => { lastResponse = performance.now(); });
  });
}

try {
  const policies = path.join(scratch, "policies");
  await mkdir(policies);
  await copyFile(path.join(POLICIES_DIR, "schema.zed"), path.join(policies, "schema.zed"));
  await copyFile(path.join(POLICIES_DIR, "step-up.yaml"), path.join(policies, "step-up.yaml"));
  await writeFile(path.join(policies, "rate-limits.yaml"), "secret_reads:\n  per_node: { limit: 1000000, window_seconds: 60 }\n  per_domain: { limit: 1000000, window_seconds: 60 }\n");
  const config = loadConfig({
    NODE_ENV: "test", CUSTOS_LOG_LEVEL: "silent", DATABASE_URL: target.toString(),
    CUSTOS_DATA_DIR: path.join(scratch, "data"), CUSTOS_POLICIES_DIR: policies,
  });
  const custos = await buildCustos({ config });
  const server = await listen(custos, "127.0.0.1", 0);

  // Setup through the services' own ports (no admin sign-in needed for a benchmark).
  await createDomainRepository(custos.db).upsert({ id: "bench", issuer: "https://idp.bench.example", clientId: "custos", admins: [], auditors: [] });
  const nodeId = randomUUID();
  const key = await issueNodeKey(custos.backend, nodeId);
  await createNodeRepository(custos.db).insertNode({ id: nodeId, domain: "bench", name: "bench-node", status: "active" }, key.record);
  await custos.backend.writeSecret("bench", "db-password", Buffer.from("benchmark-value"));
  await custos.db.query("INSERT INTO secrets (domain, name, version) VALUES ('bench', 'db-password', 1)");
  await custos.authorizer.writeRelationships([
    relationship(nodeRef(nodeId), "domain", domainRef("bench")),
    relationship(secretRef("bench", "db-password"), "domain", domainRef("bench")),
    relationship(secretRef("bench", "db-password"), "reader", nodeRef(nodeId)),
  ], []);
  const bearer = formatNodeBearer(key.kid, deriveBearerSecret(Buffer.from(key.nsk, "base64url")));

  // The baseline: same process, same database, one durable INSERT per request.
  const baselineDb = openPostgres({ url: target.toString() });
  await baselineDb.query("CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), note text NOT NULL)");
  const baselineApp = express();
  baselineApp.get("/baseline", async (_req, res) => {
    await baselineDb.query("INSERT INTO bench_baseline (note) VALUES ($1)", ["read"]);
    res.json({ ok: true });
  });
  const baselineServer = baselineApp.listen(0, "127.0.0.1");
  await new Promise((resolve) => baselineServer.once("listening", resolve));
  const baselinePort = (baselineServer.address() as { port: number }).port;

  const secretUrl = `${server.url}/v1/nodes/${nodeId}/secrets/db-password`;
  await run({ url: secretUrl, connections: CONNECTIONS, amount: 500, headers: { authorization: `Bearer ${bearer}` } });
  await run({ url: `http://127.0.0.1:${String(baselinePort)}/baseline`, connections: CONNECTIONS, amount: 500 });
  const grantedBefore = Number((await custos.db.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE chain = 'bench' AND action = 'secret.read' AND decision = 'granted'"))[0]?.n);

  const reads = await run({ url: secretUrl, connections: CONNECTIONS, amount: READS, headers: { authorization: `Bearer ${bearer}` } });
  const baseline = await run({ url: `http://127.0.0.1:${String(baselinePort)}/baseline`, connections: CONNECTIONS, amount: READS });

  const readRate = READS / reads.seconds;
  const baseRate = READS / baseline.seconds;
  console.log(`secret read benchmark: PostgreSQL server, embedded SpiceDB, local backend, ${String(CONNECTIONS)} connections, ${String(READS)} requests each`);
  console.log(`secret reads      : ${readRate.toFixed(0).padStart(7)} req/s  p50 ${String(reads.latency.p50)} ms  p99 ${String(reads.latency.p99)} ms  (2xx ${String(reads["2xx"])}, non-2xx ${String(reads.non2xx)})`);
  console.log(`baseline INSERT   : ${baseRate.toFixed(0).padStart(7)} req/s  p50 ${String(baseline.latency.p50)} ms  p99 ${String(baseline.latency.p99)} ms`);
  console.log(`ratio reads / baseline: ${(readRate / baseRate).toFixed(2)} (aim: at least 0.5)`);

  await custos.audit.drain();
  const granted = Number((await custos.db.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE chain = 'bench' AND action = 'secret.read' AND decision = 'granted'"))[0]?.n) - grantedBefore;
  const report = await verifyChain({ chain: "bench", records: streamRecordPages(custos.db, "bench", { pageSize: 5000 }) });
  console.log(`200 answers ${String(reads["2xx"])} vs granted audit records ${String(granted)}: ${reads["2xx"] === granted ? "equal" : "DIFFERENT"}; chain ${report.ok ? "verifies" : `FAILS: ${JSON.stringify(report.failure)}`} (${String(report.rows_checked)} rows)`);

  baselineServer.close();
  await baselineDb.close();
  await server.close();
  await custos.close();
} finally {
  await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
  await rm(scratch, { recursive: true, force: true });
}
