/**
 * `DATABASE_URL=… [DRILL_SECONDS=40] [DRILL_DOWN_SECONDS=5] npm run drill -- pg-stop`
 *
 * Stops the PostgreSQL server itself: run it only on a machine where the drill may do that
 * (as root, with the Debian cluster tools, the one cluster under /etc/postgresql, "main"),
 * and where nothing else needs the server for the moment. Two replicas as in the two-replicas
 * drill, 32 connections reading the secret; 10 s in, `pg_ctlcluster <version> main stop -m
 * fast` (connections are terminated at once), DRILL_DOWN_SECONDS (5 by default) after the stop
 * returns `… start`, and the drill waits for `pg_isready`. The server is always started again, whatever happens
 * (a finally block, and on SIGINT/SIGTERM). The replicas must stay up, answer 503 while the
 * server is down, and serve 200s again once it is back, without a restart. Prints the
 * statuses while down, the time from the server's return to the first 200, the 200s against
 * the granted records, and whether the chain verifies. Exit 1 if any of those is wrong.
 */
import { execFile, execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { promisify } from "node:util";
import { startReplicaDeployment } from "../integration/faults/replica-deployment.ts";
import { auditAccounting, describeAccounting, longest, seconds, sleep, tallyAnswers, tracedReads } from "./faults.ts";
import { describeSummary, drillSeconds, faultSeconds, line, requireDatabaseUrl, runLoad, summarise } from "./load.ts";

requireDatabaseUrl("pg-stop");
const drill = drillSeconds(40);
const STOP_AT_MS = 10_000;
const downSeconds = faultSeconds({ drill: "pg-stop", variable: "DRILL_DOWN_SECONDS", fallback: 5, max: 120, what: "the outage", startsAtMs: STOP_AT_MS, afterMs: 15_000 }, drill);
const versions = readdirSync("/etc/postgresql");
const [version] = versions;
if (versions.length !== 1 || version === undefined) {
  process.stderr.write(`pg-stop drill: expected exactly one PostgreSQL version under /etc/postgresql (found ${JSON.stringify(versions)})\n`);
  process.exit(2);
}
const CONNECTIONS = 32;
const run = promisify(execFile);
const cluster = (action: "start" | "stop") =>
  ["--skip-systemctl-redirect", version, "main", action, ...(action === "stop" ? ["-m", "fast"] : [])];
const accepting = () => run("pg_isready", ["-h", "127.0.0.1"]).then(() => true, () => false);

let stopped = false;
/** Polls pg_isready every 50 ms (up to 60 s); whether it said accepting. */
async function untilAccepting(): Promise<boolean> {
  for (let attempt = 0; attempt < 1200; attempt += 1) {
    if (await accepting()) return true;
    await sleep(50);
  }
  return false;
}
/** Starts the server if the drill stopped it, then waits until it accepts connections. */
async function restartServer(): Promise<void> {
  if (stopped) {
    stopped = false;
    const starting = run("pg_ctlcluster", cluster("start")).catch((error: unknown) => {
      // "already running" is fine; anything else shows in pg_isready.
      line(`pg_ctlcluster start: ${error instanceof Error ? error.message : JSON.stringify(error)}`);
    });
    await Promise.all([starting, untilAccepting()]);
  }
  await untilAccepting();
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    if (stopped) {
      try {
        execFileSync("pg_ctlcluster", cluster("start"), { stdio: "inherit" });
      } catch {
        // reported by pg_ctlcluster itself
      }
    }
    process.exit(130);
  });
}

const deployment = await startReplicaDeployment({ replicas: 2 });
let failed: boolean;
try {
  const [a, b] = deployment.replicas;
  if (a === undefined || b === undefined) throw new Error("two replicas expected");
  const node = await deployment.provision(a);
  const databaseUrl = deployment.store.env.DATABASE_URL ?? "";
  const before = await auditAccounting(databaseUrl);

  const reads = tracedReads([a, b], node, 30_000);
  let stopAsked = Number.NaN;
  let stoppedAt = Number.NaN;
  let startAsked = Number.NaN;
  let acceptingAt = Number.NaN;
  let backAt = Number.NaN;
  let outageError: unknown;
  const outage = (async () => {
    await sleep(STOP_AT_MS);
    stopAsked = reads.now();
    stopped = true;
    try {
      await run("pg_ctlcluster", cluster("stop"));
      stoppedAt = reads.now();
      await sleep(downSeconds * 1000);
    } finally {
      startAsked = reads.now();
      void untilAccepting().then(() => { acceptingAt = reads.now(); });
      await restartServer();
      backAt = reads.now();
    }
  })().catch((error: unknown) => { outageError = error; });
  let load: Awaited<ReturnType<typeof runLoad>>;
  try {
    load = await runLoad({ replicas: [a, b], read: (replica) => reads.read(replica), connections: CONNECTIONS, seconds: drill });
  } finally {
    await outage;
    await restartServer();
  }

  const answers = reads.answers;
  // Down from the stop (fast shutdown ends the connections at once, then checkpoints) until
  // pg_isready first says accepting.
  const whileDown = answers.filter((answer) => answer.sentAt >= stopAsked && answer.at < acceptingAt);
  const unanswered = answers.filter((answer) => answer.status === 0);
  const firstOk = answers.filter((answer) => answer.status === 200 && answer.at >= acceptingAt).sort((x, y) => x.at - y.at)[0];
  const oks = answers.filter((answer) => answer.status === 200).length;
  const after = await auditAccounting(databaseUrl);
  const accounting = describeAccounting(oks, before, after);
  const verified = await deployment.verifyChain();
  const isReady = await accepting();

  line(`pg-stop drill: 2 × custos serve, PostgreSQL ${version}/main, SpiceDB over gRPC, ${String(CONNECTIONS)} connections, ${load.seconds.toFixed(1)} s; stop asked ${seconds(stopAsked)}, stop returned ${seconds(stoppedAt)}, start asked ${seconds(startAsked)}, accepting again ${seconds(acceptingAt)} (down ${seconds(acceptingAt - stopAsked)}), start returned ${seconds(backAt)}`);
  if (outageError !== undefined) line(`OUTAGE STEP FAILED: ${outageError instanceof Error ? outageError.message : JSON.stringify(outageError)}`);
  line(describeSummary("all reads", summarise(load.samples, load.seconds)));
  line(`all answers           : ${JSON.stringify(tallyAnswers(answers))}; unanswered ${String(unanswered.length)}; longest ${seconds(longest(answers))}`);
  line(`while down            : ${String(whileDown.length)} answered ${JSON.stringify(tallyAnswers(whileDown))}, longest ${seconds(longest(whileDown))}`);
  line(`first 200 after back  : ${firstOk === undefined ? "NONE" : `${seconds(firstOk.at - acceptingAt)} after pg_isready first said accepting, ${seconds(firstOk.at - startAsked)} after the start was asked (through ${firstOk.replica})`}`);
  line(accounting.text);
  line(`audit chain           : ${verified.ok && verified.code === 0 ? "verifies" : `FAILS (exit ${String(verified.code)}): ${verified.output}`} (${String(verified.rows)} rows)`);
  line(`replicas alive        : A ${String(a.alive())}, B ${String(b.alive())}`);
  line(`pg_isready            : ${isReady ? "accepting connections" : "NOT ACCEPTING"}`);
  failed = outageError !== undefined || unanswered.length !== 0 || whileDown.length === 0 || whileDown.some((answer) => answer.status !== 503)
    || firstOk === undefined || !accounting.ok || !verified.ok || verified.code !== 0 || !a.alive() || !b.alive() || !isReady;
  if (!a.alive() || !b.alive()) line(`replica stderr:\n${a.stderr().slice(-2000)}\n${b.stderr().slice(-2000)}`);
} finally {
  await restartServer();
  await deployment.close();
}
process.exit(failed ? 1 : 0);
