/**
 * `DATABASE_URL=… [DRILL_SECONDS=30] npm run drill -- kill-replica`
 *
 * Two replicas as in the two-replicas drill, 32 connections reading through both; half way
 * through, replica A is killed with SIGKILL (no drain, no goodbye to the database). Requests
 * in flight on A fail, and A leaves the rotation at its first failure, as behind a load
 * balancer; B must keep answering every read with 200. Then a replacement replica starts on
 * the same database and data directory and serves. Prints reads/s and p50/p99 before and after
 * the kill, B's errors, the failures on A, the 200s against the granted audit records (a
 * record may exist for a read A committed but never delivered, never the other way round),
 * and whether the chain verifies. Exit 1 if B failed once, a 200 lacks its record, or the
 * chain does not verify.
 */
import { startReplicaDeployment } from "../integration/faults/replica-deployment.ts";
import { describeSummary, drillSeconds, line, requireDatabaseUrl, runLoad, summarise } from "./load.ts";

requireDatabaseUrl("kill-replica");
const seconds = drillSeconds();
const CONNECTIONS = 32;

const deployment = await startReplicaDeployment({ replicas: 2 });
let failed: boolean;
try {
  const [a, b] = deployment.replicas;
  if (a === undefined || b === undefined) throw new Error("two replicas expected");
  const node = await deployment.provision(a);
  const before = await deployment.grantedReads();

  let killedAt = Number.NaN;
  const started = performance.now();
  const killAfterMs = (seconds * 1000) / 2;
  const load = await runLoad({
    replicas: [a, b],
    read: (replica) => deployment.readSecret(replica, node),
    connections: CONNECTIONS,
    seconds,
    at: { ms: killAfterMs, run: () => { killedAt = performance.now() - started; a.child.kill("SIGKILL"); } },
  });
  const exitSignal = await new Promise<NodeJS.Signals | null>((resolve) => {
    if (a.child.exitCode !== null || a.child.signalCode !== null) resolve(a.child.signalCode);
    else a.child.once("exit", (_code, signal) => { resolve(signal); });
  });

  const all = summarise(load.samples, load.seconds);
  const beforeKill = load.samples.filter((s) => s.at < killedAt);
  const afterKill = load.samples.filter((s) => s.at >= killedAt);
  const onB = load.samples.filter((s) => s.replica === 1);
  const bErrors = onB.filter((s) => s.status !== 200).length;
  const aFailures = load.samples.filter((s) => s.replica === 0 && s.status !== 200);
  const bAfterKill = afterKill.filter((s) => s.replica === 1 && s.status === 200).length;
  const granted = (await deployment.grantedReads()) - before;

  const replacement = await deployment.addReplica();
  const replacementStatus = await deployment.readSecret(replacement, node);
  const verified = await deployment.verifyChain();

  line(`kill-replica drill: 2 × custos serve, PostgreSQL server, SpiceDB over gRPC, ${String(CONNECTIONS)} connections, ${load.seconds.toFixed(1)} s, A killed (${String(exitSignal)}) at ${(killedAt / 1000).toFixed(1)} s`);
  line(describeSummary("all reads", all));
  line(describeSummary("  before the kill", summarise(beforeKill, killedAt / 1000)));
  line(describeSummary("  after the kill", summarise(afterKill, load.seconds - killedAt / 1000)));
  line(`B: errors (not 200)   : ${String(bErrors)} of ${String(onB.length)}; 200s after the kill ${String(bAfterKill)}; alive ${String(b.alive())}`);
  line(`A: failed requests    : ${String(aFailures.length)} (statuses ${JSON.stringify(summarise(aFailures, 1).statuses)}): in flight at the kill, or sent before A's first failure took it out of the rotation`);
  line(`200 answers ${String(all.ok)} vs granted secret.read records ${String(granted)}: ${granted >= all.ok ? `every 200 has its record; ${String(granted - all.ok)} record(s) for reads A committed but never delivered` : "200s WITHOUT A RECORD"}`);
  line(`replacement replica   : first read ${String(replacementStatus)}`);
  line(`audit chain           : ${verified.ok && verified.code === 0 ? "verifies" : `FAILS (exit ${String(verified.code)}): ${verified.output}`} (${String(verified.rows)} rows)`);
  failed = bErrors !== 0 || bAfterKill === 0 || !b.alive() || granted < all.ok || granted - all.ok > aFailures.length
    || replacementStatus !== 200 || !verified.ok || verified.code !== 0;
} finally {
  await deployment.close();
}
process.exit(failed ? 1 : 0);
