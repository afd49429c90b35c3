/**
 * `DATABASE_URL=… [DRILL_SECONDS=40] [DRILL_HANG_SECONDS=25] npm run drill -- store-hung`
 *
 * Two replicas as in the two-replicas drill, but they reach PostgreSQL through a freezable TCP
 * proxy (the drill's own connections go direct). 32 connections read the secret; 5 s in, the
 * proxy freezes for DRILL_HANG_SECONDS (25 by default): bytes are held, connections stay open,
 * as when a store hangs. Then it thaws. Every request must still be answered — an answer
 * slower than 10 s counts as a hang (the store deadline is about 6 s) — with 503 while the
 * store hangs, /readyz must say 503, and reads must succeed again after the thaw without a
 * restart. Prints the statuses and the longest answer during the hang, /readyz, the time from
 * the thaw to the first 200, the 200s against the granted records, and whether the chain
 * verifies. Exit 1 if any of those is wrong.
 */
import { startReplicaDeployment } from "../integration/faults/replica-deployment.ts";
import { startFreezableProxy } from "../integration/support/freezable-proxy.ts";
import { auditAccounting, describeAccounting, firstOkSentAfter, longest, probeReady, seconds, tallyAnswers, tracedReads } from "./faults.ts";
import { describeSummary, drillSeconds, faultSeconds, line, requireDatabaseUrl, runLoad, summarise } from "./load.ts";

requireDatabaseUrl("store-hung");
const drill = drillSeconds(40);
const FREEZE_AT_MS = 5_000;
const hangSeconds = faultSeconds({ drill: "store-hung", variable: "DRILL_HANG_SECONDS", fallback: 25, max: 600, what: "the hang", startsAtMs: FREEZE_AT_MS, afterMs: 10_000 }, drill);
const CONNECTIONS = 32;
const HANG_MS = 10_000;

const server = new URL(process.env.DATABASE_URL ?? "");
const proxy = await startFreezableProxy({ host: server.hostname, port: Number(server.port || "5432") });
let failed: boolean;
try {
  const deployment = await startReplicaDeployment({ replicas: 2, replicaDatabaseAddress: { host: "127.0.0.1", port: proxy.port } });
  try {
    const [a, b] = deployment.replicas;
    if (a === undefined || b === undefined) throw new Error("two replicas expected");
    const node = await deployment.provision(a);
    const databaseUrl = deployment.store.env.DATABASE_URL ?? "";
    const before = await auditAccounting(databaseUrl);

    // Reads wait up to 30 s, so that a hang is measured rather than cut short.
    const reads = tracedReads([a, b], node, 30_000);
    let frozenAt = Number.NaN;
    let thawedAt = Number.NaN;
    let ready: { status: number; ms: number }[] = [];
    const freezeTimer = setTimeout(() => { frozenAt = reads.now(); proxy.freeze(); }, FREEZE_AT_MS);
    const readyTimer = setTimeout(() => {
      void Promise.all([probeReady(a), probeReady(b)]).then((probes) => { ready = probes; });
    }, FREEZE_AT_MS + (hangSeconds * 1000) / 2);
    const thawTimer = setTimeout(() => { thawedAt = reads.now(); proxy.thaw(); }, FREEZE_AT_MS + hangSeconds * 1000);
    const load = await runLoad({ replicas: [a, b], read: (replica) => reads.read(replica), connections: CONNECTIONS, seconds: drill });
    clearTimeout(freezeTimer);
    clearTimeout(readyTimer);
    clearTimeout(thawTimer);
    proxy.thaw();

    const answers = reads.answers;
    const hangs = answers.filter((answer) => answer.status === 0 || answer.latencyMs > HANG_MS);
    const sentInHang = answers.filter((answer) => answer.sentAt >= frozenAt && answer.sentAt < thawedAt);
    const duringHang = sentInHang.filter((answer) => answer.at < thawedAt);
    const straddling = sentInHang.filter((answer) => answer.at >= thawedAt);
    const inFlightAtFreeze = answers.filter((answer) => answer.sentAt < frozenAt && answer.at >= frozenAt);
    const firstOk = firstOkSentAfter(answers, thawedAt);
    const oks = answers.filter((answer) => answer.status === 200).length;
    const after = await auditAccounting(databaseUrl);
    const accounting = describeAccounting(oks, before, after);
    const verified = await deployment.verifyChain();
    const readyAfter = await Promise.all([probeReady(a), probeReady(b)]);

    line(`store-hung drill: 2 × custos serve through a freezable TCP proxy to PostgreSQL, SpiceDB over gRPC, ${String(CONNECTIONS)} connections, ${load.seconds.toFixed(1)} s; proxy frozen ${seconds(frozenAt)} → ${seconds(thawedAt)} (${seconds(thawedAt - frozenAt)})`);
    line(describeSummary("all reads", summarise(load.samples, load.seconds)));
    line(`answers               : ${String(answers.length)} requests, ${String(hangs.length)} hang(s) (no answer, or slower than ${seconds(HANG_MS)}); longest answer overall ${seconds(longest(answers))}`);
    line(`in flight at freeze   : ${String(inFlightAtFreeze.length)} ${JSON.stringify(tallyAnswers(inFlightAtFreeze))}, longest ${seconds(longest(inFlightAtFreeze))}`);
    line(`during the hang       : ${String(duringHang.length)} answered ${JSON.stringify(tallyAnswers(duringHang))}, longest ${seconds(longest(duringHang))}`);
    line(`sent in the hang, answered after the thaw: ${String(straddling.length)} ${JSON.stringify(tallyAnswers(straddling))}, longest ${seconds(longest(straddling))}`);
    line(`/readyz mid-hang      : A ${String(ready[0]?.status)} in ${seconds(ready[0]?.ms ?? Number.NaN)}, B ${String(ready[1]?.status)} in ${seconds(ready[1]?.ms ?? Number.NaN)}; after the drill A ${String(readyAfter[0].status)}, B ${String(readyAfter[1].status)}`);
    line(`first 200 after thaw  : ${firstOk === undefined ? "NONE" : `${seconds(firstOk.at - thawedAt)} after the thaw (through ${firstOk.replica})`}`);
    line(accounting.text);
    line(`audit chain           : ${verified.ok && verified.code === 0 ? "verifies" : `FAILS (exit ${String(verified.code)}): ${verified.output}`} (${String(verified.rows)} rows)`);
    line(`replicas alive        : A ${String(a.alive())}, B ${String(b.alive())}`);
    failed = hangs.length !== 0 || duringHang.length === 0 || duringHang.some((answer) => answer.status !== 503)
      || ready.length !== 2 || ready.some((probe) => probe.status !== 503)
      || firstOk === undefined || !accounting.ok || !verified.ok || verified.code !== 0 || !a.alive() || !b.alive();
  } finally {
    proxy.thaw();
    await deployment.close();
  }
} finally {
  await proxy.close();
}
process.exit(failed ? 1 : 0);
