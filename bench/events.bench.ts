/**
 * `npm run bench -- events [--events 2000] [--writes 30]`
 *
 * Signed events (issue 19), each figure against a baseline measured in the same run:
 *
 * 1. Sign and verify: envelopes signed as the publisher signs them (signEventEnvelope) and
 *    verified as the agent verifies them (verifyEventEnvelope, with its replay check), per
 *    second, against raw Ed25519 sign + verify (node:crypto) of the same signing input.
 * 2. Publish and verify: the publisher's whole path (sign, its own signature check, ONE audit
 *    record per batch committed on the PostgreSQL server, the in-process bus) for batches of 1
 *    and of 100 recipients, then each envelope verified as the agent would, against the same raw
 *    baseline.
 * 3. Write → agent file: two `custos serve` replicas on one database and one JetStream stream
 *    (the deployment the replica tests use), a `custos node agent` following replica A, then
 *    replica B, and secrets written through replica A. Reported: from the admin's PUT to the
 *    agent's file holding the new value (p50/p99), and the PUT's own answer time, so that
 *    what the event path adds is their difference.
 *
 * Needs DATABASE_URL (a PostgreSQL server) and NATS at NATS_URL (default 127.0.0.1:4222).
 */
import { generateKeyPairSync, sign, verify } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { verifyEventEnvelope, type CandidateJwk } from "../src/agent/event-envelope.ts";
import { createGroupCommitAppender } from "../src/audit/group-commit-appender.ts";
import { newEventJti, signEventEnvelope, type CustosEvent, type EventSigningKey } from "../src/events/event-envelope.ts";
import { createInProcessBus } from "../src/events/in-process-bus.ts";
import { publishEvents } from "../src/events/event-publisher.ts";
import { MIGRATIONS_DIR } from "../src/package-paths.ts";
import { loadMigrations, migrateUp } from "../src/platform/db/migrate.ts";
import { startAgentProcess } from "../integration/agent/support/agent-process.ts";
import { DOMAIN, SECRET, startReplicaDeployment } from "../integration/faults/replica-deployment.ts";
import { createIsolatedStore } from "../integration/support/stores.ts";

const option = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(name);
  return index > 0 ? Number(process.argv[index + 1]) : fallback;
};
const EVENTS = option("--events", 2000);
const WRITES = option("--writes", 30);
const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";

if ((process.env.DATABASE_URL ?? "") === "") {
  console.error("events bench: set DATABASE_URL to a PostgreSQL server");
  process.exit(2);
}

const ROOT = new URL("..", import.meta.url).pathname;
const build = spawnSync(process.execPath, [path.join(ROOT, "bin", "build.mjs")], { stdio: "inherit" });
if (build.status !== 0) process.exit(build.status ?? 1);

const perSecond = (count: number, ms: number) => (count * 1000) / ms;
const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

// --- 1 and 2: the envelope, in process -------------------------------------------------

const { privateKey, publicKey } = generateKeyPairSync("ed25519");
const key: EventSigningKey = { kid: "bench-event-key", privateKey };
const jwk: CandidateJwk = { ...(publicKey.export({ format: "jwk" }) as { kty: "OKP"; crv: "Ed25519"; x: string }), kid: key.kid, alg: "EdDSA", use: "sig", custos_use: "event" };
const nodeId = "00000000-0000-4000-8000-000000000001";
const event: CustosEvent = { type: "secret.updated", data: { name: "db-password", version: 7 } };
const now = () => Math.floor(Date.now() / 1000);

function verifyAll(envelopes: readonly string[]): void {
  const seen = new Set<string>();
  for (const envelope of envelopes) {
    const verified = verifyEventEnvelope(envelope, { keys: [jwk], domain: "bench", nodeId, now: now(), leewaySeconds: 30, seen: (jti) => seen.has(jti) });
    seen.add(verified.jti);
  }
}

/** Raw Ed25519 over the very bytes a JWS signs: header.payload. */
async function rawRate(): Promise<number> {
  const sample = await signEventEnvelope({ key, domain: "bench", nodeId, event, issuedAt: now(), ttlSeconds: 60, jti: newEventJti() });
  const input = Buffer.from(sample.slice(0, sample.lastIndexOf(".")));
  const started = performance.now();
  for (let n = 0; n < EVENTS; n += 1) {
    const signature = sign(null, input, privateKey);
    if (!verify(null, input, publicKey, signature)) throw new Error("raw verify failed");
  }
  return perSecond(EVENTS, performance.now() - started);
}

async function signVerifyRate(): Promise<number> {
  const started = performance.now();
  const envelopes: string[] = [];
  for (let n = 0; n < EVENTS; n += 1) {
    envelopes.push(await signEventEnvelope({ key, domain: "bench", nodeId, event, issuedAt: now(), ttlSeconds: 60, jti: newEventJti() }));
  }
  verifyAll(envelopes);
  return perSecond(EVENTS, performance.now() - started);
}

const store = await createIsolatedStore("postgres");
await migrateUp(store.db, await loadMigrations(MIGRATIONS_DIR));
const audit = createGroupCommitAppender({ db: store.db, timeoutMs: 10_000 });
const bus = createInProcessBus({ retainPerNode: 1000, retentionSeconds: 3600 });
const publisher = { keys: { activeKey: () => Promise.resolve(key) }, audit, bus, ttlSeconds: 60, now };

async function publishVerifyRate(recipientsPerBatch: number): Promise<number> {
  const recipients = Array.from({ length: recipientsPerBatch }, () => nodeId);
  const envelopes: string[] = [];
  const subscription = await bus.subscribe({ domain: "bench", nodeId }, "new", {
    deliver: (delivered) => { if (delivered.message.kind === "event") envelopes.push(delivered.message.envelope); },
    fail: (error) => { throw error; },
  });
  const started = performance.now();
  for (let sent = 0; sent < EVENTS; sent += recipientsPerBatch) {
    await publishEvents(publisher, { domain: "bench", event, recipients, requestId: `bench-${String(sent)}` });
  }
  await subscription.close();
  verifyAll(envelopes);
  return perSecond(Math.ceil(EVENTS / recipientsPerBatch) * recipientsPerBatch, performance.now() - started);
}

const raw = await rawRate();
const rows: [string, number][] = [
  ["sign + verify (envelope)", await signVerifyRate()],
  ["publish + verify, 1 per batch", await publishVerifyRate(1)],
  ["publish + verify, 100 per batch", await publishVerifyRate(100)],
];
const rawAgain = await rawRate();
const baseline = Math.max(raw, rawAgain);
console.log(`signed events: ${String(EVENTS)} each; raw Ed25519 sign+verify ${baseline.toFixed(0)}/s (runs ${raw.toFixed(0)} and ${rawAgain.toFixed(0)})`);
for (const [what, rate] of rows) console.log(`  ${what.padEnd(34)} ${rate.toFixed(0).padStart(7)}/s  ratio ${(rate / baseline).toFixed(2)}`);
await audit.drain();
await store.dispose();

// --- 3: write through A, the agent's file on A or B -------------------------------------

const stream = `BENCH_EVENTS_${String(process.pid)}`;
const deployment = await startReplicaDeployment({ replicaEnv: { NATS_URL, NATS_STREAM: stream, NATS_SUBJECT_PREFIX: `bench.${String(process.pid)}` } });
const scratch = await mkdtemp(path.join(os.tmpdir(), "custos-events-bench-"));
try {
  const [a, b] = deployment.replicas;
  if (a === undefined || b === undefined) throw new Error("two replicas");
  const node = await deployment.provision(a);
  const admin = await deployment.adminToken();
  for (const [label, follow] of [["one replica (agent on A)", a], ["two replicas (agent on B)", b]] as const) {
    const dir = await mkdtemp(path.join(scratch, "agent-"));
    await writeFile(path.join(dir, "node.nsk"), `${node.nsk}\n`, { mode: 0o600 });
    await writeFile(path.join(dir, "agent.yaml"), stringify({
      url: follow.url, domain: DOMAIN, node_id: node.node_id, kid: node.kid, nsk_file: "node.nsk", reconnect_max_seconds: 1, secrets: [{ name: SECRET, path: "secret" }],
    }));
    const agent = startAgentProcess(["--config", path.join(dir, "agent.yaml")]);
    await agent.waitForLog((line) => line.msg === "full sync done");
    const toFile: number[] = [];
    const answered: number[] = [];
    for (let n = 0; n < WRITES; n += 1) {
      const value = `bench-${label}-${String(n)}`;
      const started = performance.now();
      const response = await deployment.call(a, "PUT", `/v1/domains/${DOMAIN}/secrets/${SECRET}`, admin, { value });
      answered.push(performance.now() - started);
      if (response.status !== 200) throw new Error(`PUT answered ${String(response.status)}`);
      while ((await readFile(path.join(dir, "secret"), "utf8").catch(() => "")) !== value) await new Promise((resolve) => setTimeout(resolve, 1));
      toFile.push(performance.now() - started);
    }
    await agent.stop();
    toFile.sort((x, y) => x - y);
    answered.sort((x, y) => x - y);
    console.log(
      `write → agent file, ${label}: p50 ${percentile(toFile, 50).toFixed(1)} ms, p99 ${percentile(toFile, 99).toFixed(1)} ms ` +
        `(the PUT itself: p50 ${percentile(answered, 50).toFixed(1)} ms, p99 ${percentile(answered, 99).toFixed(1)} ms; ${String(WRITES)} writes)`,
    );
  }
} finally {
  await deployment.close();
  await rm(scratch, { recursive: true, force: true });
  const nc = await connect({ servers: NATS_URL });
  await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false);
  await nc.close();
}
