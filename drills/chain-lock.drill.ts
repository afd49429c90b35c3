/**
 * `DATABASE_URL=… [DRILL_SECONDS=40] [DRILL_LOCK_SECONDS=10] npm run drill -- chain-lock`
 *
 * Two replicas as in the two-replicas drill, 32 connections reading the secret. 10 s in, a
 * separate connection takes the domain chain's lock row (`SELECT … FROM audit_chains … FOR
 * UPDATE`) and holds it for DRILL_LOCK_SECONDS (10 by default) before COMMIT: no audit record
 * can be committed meanwhile. Every read in that window must be refused 503 audit_unavailable
 * within about CUSTOS_AUDIT_TIMEOUT_MS (the replicas run with its default, 2000 ms), and — the
 * key check — no read answered 503 may leave a granted secret.read record behind: the granted
 * records must equal the 200s, except records an `audit.late_commit` record names by seq.
 * Prints the answers during the hold and the longest, the accounting, and whether the chain
 * verifies. Exit 1 if any of those is wrong.
 */
import postgres from "postgres";
import { DOMAIN, startReplicaDeployment } from "../integration/faults/replica-deployment.ts";
import { auditAccounting, describeAccounting, firstOkSentAfter, longest, seconds, sleep, tallyAnswers, tracedReads } from "./faults.ts";
import { describeSummary, drillSeconds, faultSeconds, line, requireDatabaseUrl, runLoad, summarise } from "./load.ts";

requireDatabaseUrl("chain-lock");
const drill = drillSeconds(40);
const LOCK_AT_MS = 10_000;
const lockSeconds = faultSeconds({ drill: "chain-lock", variable: "DRILL_LOCK_SECONDS", fallback: 10, max: 600, what: "the hold", startsAtMs: LOCK_AT_MS, afterMs: 5_000 }, drill);
const CONNECTIONS = 32;
/** The replicas' CUSTOS_AUDIT_TIMEOUT_MS (its default; the deployment does not set it). */
const AUDIT_TIMEOUT_MS = 2_000;
/** "Within about" the audit bound: the bound plus the rest of the request and the network. */
const REFUSAL_BOUND_MS = AUDIT_TIMEOUT_MS + 1_000;

const deployment = await startReplicaDeployment({ replicas: 2 });
let failed: boolean;
try {
  const [a, b] = deployment.replicas;
  if (a === undefined || b === undefined) throw new Error("two replicas expected");
  const node = await deployment.provision(a);
  const databaseUrl = deployment.store.env.DATABASE_URL ?? "";
  const before = await auditAccounting(databaseUrl);

  const reads = tracedReads([a, b], node, 30_000);
  let lockedAt = Number.NaN;
  let releasedAt = Number.NaN;
  let holdError: unknown;
  const holder = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
  const hold = sleep(LOCK_AT_MS).then(async () => {
    const asked = reads.now();
    await holder.begin(async (tx) => {
      await tx`SELECT chain FROM audit_chains WHERE chain = ${DOMAIN} FOR UPDATE`;
      lockedAt = reads.now();
      line(`(lock taken in ${seconds(lockedAt - asked)})`);
      await sleep(lockSeconds * 1000);
    });
    releasedAt = reads.now();
  }).catch((error: unknown) => { holdError = error; });
  const load = await runLoad({ replicas: [a, b], read: (replica) => reads.read(replica), connections: CONNECTIONS, seconds: drill });
  await hold;
  await holder.end({ timeout: 5 });

  const answers = reads.answers;
  const duringHold = answers.filter((answer) => answer.sentAt >= lockedAt && answer.at < releasedAt);
  const refusedRight = duringHold.filter((answer) => answer.status === 503 && answer.code === "audit_unavailable");
  const slowRefusals = duringHold.filter((answer) => answer.latencyMs > REFUSAL_BOUND_MS);
  const firstOk = firstOkSentAfter(answers, releasedAt);
  const unanswered = answers.filter((answer) => answer.status === 0).length;
  const oks = answers.filter((answer) => answer.status === 200).length;
  const after = await auditAccounting(databaseUrl);
  const accounting = describeAccounting(oks, before, after);
  const verified = await deployment.verifyChain();

  line(`chain-lock drill: 2 × custos serve, PostgreSQL server, SpiceDB over gRPC, ${String(CONNECTIONS)} connections, ${load.seconds.toFixed(1)} s; chain '${DOMAIN}' locked ${seconds(lockedAt)} → ${seconds(releasedAt)} (${seconds(releasedAt - lockedAt)}), CUSTOS_AUDIT_TIMEOUT_MS ${String(AUDIT_TIMEOUT_MS)}`);
  if (holdError !== undefined) line(`LOCK HOLDER FAILED: ${holdError instanceof Error ? holdError.message : JSON.stringify(holdError)}`);
  line(describeSummary("all reads", summarise(load.samples, load.seconds)));
  line(`all answers           : ${JSON.stringify(tallyAnswers(answers))}; unanswered ${String(unanswered)}`);
  line(`during the hold       : ${String(duringHold.length)} answered ${JSON.stringify(tallyAnswers(duringHold))}; 503 audit_unavailable ${String(refusedRight.length)}; longest ${seconds(longest(duringHold))}; slower than ${seconds(REFUSAL_BOUND_MS)}: ${String(slowRefusals.length)}`);
  line(`first 200 after COMMIT: ${firstOk === undefined ? "NONE" : `${seconds(firstOk.at - releasedAt)} after the release (through ${firstOk.replica})`}`);
  line(accounting.text);
  line(`audit chain           : ${verified.ok && verified.code === 0 ? "verifies" : `FAILS (exit ${String(verified.code)}): ${verified.output}`} (${String(verified.rows)} rows)`);
  line(`replicas alive        : A ${String(a.alive())}, B ${String(b.alive())}`);
  failed = holdError !== undefined || duringHold.length === 0 || refusedRight.length !== duringHold.length || slowRefusals.length !== 0
    || unanswered !== 0 || firstOk === undefined || !accounting.ok || !verified.ok || verified.code !== 0 || !a.alive() || !b.alive();
} finally {
  await deployment.close();
}
process.exit(failed ? 1 : 0);
