/**
 * `DATABASE_URL=… [DRILL_READS=20000] npm run drill -- two-replicas`
 *
 * Two `custos serve` processes on one fresh PostgreSQL database, one SpiceDB server (the gRPC
 * fixture: one embedded engine) and one shared data directory, set up through the API on
 * replica A. The load generator is autocannon in processes of its own (bench/support/load.ts),
 * as in `npm run bench -- secret-read`: an in-process client would take about as much CPU a
 * request as a replica, on the same cores. First DRILL_READS reads over 32 connections to A
 * alone; then the same number again, half to A and half to B at once (one load process each,
 * 16 connections each). Prints reads/s and p50/p99 of A alone, then of A and B together and of
 * each, the two-replica rate against A alone (issue 18 asks for 1.5× or better, or what
 * saturates), the errors (anything but 200), the 200s against the granted secret.read audit
 * records, and whether the chain verifies (`custos audit verify`). Exit 1 if any of those is wrong.
 */
import { loadInOwnProcess, type LoadResult } from "../bench/support/load-process.ts";
import { SECRET, startReplicaDeployment } from "../integration/faults/replica-deployment.ts";
import { deriveBearerSecret, formatNodeBearer } from "../src/nodes/nsk.ts";
import { drillSetting, line, requireDatabaseUrl } from "./load.ts";

requireDatabaseUrl("two-replicas");
const CONNECTIONS = 32;

function describe(label: string, result: Pick<LoadResult, "rate" | "p50" | "p99" | "ok" | "notOk" | "errors">): string {
  return `${label.padEnd(22)}: ${result.rate.toFixed(0).padStart(6)} reads/s  p50 ${String(result.p50)} ms  p99 ${String(result.p99)} ms  (200 ${String(result.ok)}, other ${String(result.notOk)}, errors ${String(result.errors)})`;
}

/** custos_audit_batches_total by path, from a replica's /metrics. */
async function auditBatchesByPath(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const byPath: Record<string, number> = {};
  for (const match of text.matchAll(/^custos_audit_batches_total\{path="([a-z_]+)"\} (\d+)$/gm)) {
    const [, path, count] = match;
    if (path !== undefined && count !== undefined) byPath[path] = Number(count);
  }
  return byPath;
}

const reads = drillSetting("DRILL_READS", { fallback: 20_000, min: 1000, max: 1_000_000, unit: "reads" });
const deployment = await startReplicaDeployment({ replicas: 2 });
let failed: boolean;
try {
  const [a, b] = deployment.replicas;
  if (a === undefined || b === undefined) throw new Error("two replicas expected");
  const node = await deployment.provision(a);
  const headers = { authorization: `Bearer ${formatNodeBearer(node.kid, deriveBearerSecret(Buffer.from(node.nsk, "base64url")))}` };
  const secretUrl = (replica: typeof a) => `${replica.url}/v1/nodes/${node.node_id}/secrets/${SECRET}`;
  // Warm both (connections, prepared statements, the remembered decision), out of the count below.
  const warm = await Promise.all([a, b].map((replica) => loadInOwnProcess(secretUrl(replica), 500, 8, headers)));
  const before = await deployment.grantedReads();

  const alone = await loadInOwnProcess(secretUrl(a), reads, CONNECTIONS, headers);
  const batchesAlone = await auditBatchesByPath(a.url);
  const [throughA, throughB] = await Promise.all([a, b].map((replica) => loadInOwnProcess(secretUrl(replica), reads / 2, CONNECTIONS / 2, headers)));
  if (throughA === undefined || throughB === undefined) throw new Error("two load results expected");
  // Both together, from the first request of either to the last response of either.
  const together = {
    rate: (throughA.ok + throughA.notOk + throughB.ok + throughB.notOk) / ((Math.max(throughA.endedAt, throughB.endedAt) - Math.min(throughA.startedAt, throughB.startedAt)) / 1000),
    p50: Math.max(throughA.p50, throughB.p50),
    p99: Math.max(throughA.p99, throughB.p99),
    ok: throughA.ok + throughB.ok,
    notOk: throughA.notOk + throughB.notOk,
    errors: throughA.errors + throughB.errors,
  };
  const granted = (await deployment.grantedReads()) - before;
  const [batchesA, batchesB] = await Promise.all([auditBatchesByPath(a.url), auditBatchesByPath(b.url)]);
  const answered = alone.ok + together.ok;
  const errors = alone.notOk + alone.errors + together.notOk + together.errors + warm.reduce((sum, run) => sum + run.notOk + run.errors, 0);
  const verified = await deployment.verifyChain();
  const stats = await deployment.spicedb.stats();

  line(`two-replicas drill: 2 × custos serve, PostgreSQL server, SpiceDB over gRPC (one embedded engine), local backend; autocannon in its own processes, ${String(reads)} reads each way`);
  line(describe("A alone (32 conns)", alone));
  line(describe("A and B together", together));
  line(`two replicas / one    : ${(together.rate / alone.rate).toFixed(2)} (issue 18 asks for at least 1.5; p50/p99 together: the worse of the two)`);
  line(describe("  through A (16)", throughA));
  line(describe("  through B (16)", throughB));
  line(`audit batches by path : A after A alone ${JSON.stringify(batchesAlone)}; at the end A ${JSON.stringify(batchesA)}, B ${JSON.stringify(batchesB)}`);
  line(`errors (not 200)      : ${String(errors)}`);
  line(`200 answers ${String(answered)} vs granted secret.read records ${String(granted)}: ${answered === granted ? "equal" : "DIFFERENT"}`);
  line(`audit chain           : ${verified.ok && verified.code === 0 ? "verifies" : `FAILS (exit ${String(verified.code)}): ${verified.output}`} (${String(verified.rows)} rows)`);
  line(`SpiceDB server calls  : ${JSON.stringify(stats)}`);
  line(`replicas alive        : A ${String(a.alive())}, B ${String(b.alive())}`);
  failed = errors !== 0 || answered !== granted || !verified.ok || verified.code !== 0 || !a.alive() || !b.alive();
} finally {
  await deployment.close();
}
process.exit(failed ? 1 : 0);
