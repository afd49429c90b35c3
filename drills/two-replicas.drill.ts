/**
 * `DATABASE_URL=… [DRILL_SECONDS=30] npm run drill -- two-replicas`
 *
 * Two `custos serve` processes on one fresh PostgreSQL database, one SpiceDB server (the gRPC
 * fixture: one embedded engine) and one shared data directory, set up through the API on
 * replica A. Then 32 connections read one secret, taking A and B in turn, for DRILL_SECONDS
 * (30 by default), after the same load on replica A alone for as long. Prints reads/s and
 * p50/p99 of A alone, then overall and per replica with both, the two-replica sum against A
 * alone (issue 18 asks for 1.5× or better), the errors (anything but 200), the 200s against the
 * granted secret.read audit records, and whether the chain verifies (`custos audit verify`).
 * Exit 1 if any of those is wrong.
 */
import { startReplicaDeployment } from "../integration/faults/replica-deployment.ts";
import { describeSummary, drillSeconds, line, requireDatabaseUrl, runLoad, summarise } from "./load.ts";

requireDatabaseUrl("two-replicas");
const seconds = drillSeconds();
const CONNECTIONS = 32;

const deployment = await startReplicaDeployment({ replicas: 2 });
let failed: boolean;
try {
  const [a, b] = deployment.replicas;
  if (a === undefined || b === undefined) throw new Error("two replicas expected");
  const node = await deployment.provision(a);
  const before = await deployment.grantedReads();

  const alone = await runLoad({ replicas: [a], read: (replica) => deployment.readSecret(replica, node), connections: CONNECTIONS, seconds });
  const one = summarise(alone.samples, alone.seconds);
  const load = await runLoad({ replicas: [a, b], read: (replica) => deployment.readSecret(replica, node), connections: CONNECTIONS, seconds });
  const all = summarise(load.samples, load.seconds);
  const granted = (await deployment.grantedReads()) - before;
  const errors = alone.samples.length - one.ok + load.samples.length - all.ok;
  const verified = await deployment.verifyChain();
  const stats = await deployment.spicedb.stats();

  line(`two-replicas drill: 2 × custos serve, PostgreSQL server, SpiceDB over gRPC (one embedded engine), local backend, ${String(CONNECTIONS)} connections, ${load.seconds.toFixed(1)} s`);
  line(describeSummary("A alone", one));
  line(describeSummary("all reads, A and B", all));
  line(`two replicas / one    : ${(all.rate / one.rate).toFixed(2)} (issue 18 asks for at least 1.5)`);
  line(describeSummary("  through A", summarise(load.samples.filter((s) => s.replica === 0), load.seconds)));
  line(describeSummary("  through B", summarise(load.samples.filter((s) => s.replica === 1), load.seconds)));
  line(`errors (not 200)      : ${String(errors)}`);
  line(`200 answers ${String(one.ok + all.ok)} vs granted secret.read records ${String(granted)}: ${one.ok + all.ok === granted ? "equal" : "DIFFERENT"}`);
  line(`audit chain           : ${verified.ok && verified.code === 0 ? "verifies" : `FAILS (exit ${String(verified.code)}): ${verified.output}`} (${String(verified.rows)} rows)`);
  line(`SpiceDB server calls  : ${JSON.stringify(stats)}`);
  line(`replicas alive        : A ${String(a.alive())}, B ${String(b.alive())}`);
  failed = errors !== 0 || one.ok + all.ok !== granted || !verified.ok || verified.code !== 0 || !a.alive() || !b.alive();
} finally {
  await deployment.close();
}
process.exit(failed ? 1 : 0);
