/**
 * Shared by the fault drills (store-hung, chain-lock, pg-stop): reads that remember when they
 * were sent, when they were answered and the problem `code` of a refusal; probes of /readyz;
 * and the accounting of granted secret.read records against the 200s, with the
 * `audit.late_commit` records that explain a granted record whose caller was refused.
 */
import postgres from "postgres";
import { DOMAIN, SECRET, type EnrolledNode } from "../integration/faults/replica-deployment.ts";
import type { ServeProcess } from "../integration/support/serve-process.ts";
import { deriveBearerSecret, formatNodeBearer } from "../src/nodes/nsk.ts";

export interface Answer {
  readonly replica: string;
  readonly status: number;
  /** The problem document's `code` when the answer was not a 200 ("" when none). */
  readonly code: string;
  /** ms since the drill's clock started, when the request was sent and when it was answered. */
  readonly sentAt: number;
  readonly at: number;
  readonly latencyMs: number;
}

export interface TracedReads {
  readonly answers: Answer[];
  /** For runLoad: reads the secret through `replica`, remembers the answer, returns the status (0: none). */
  read(replica: ServeProcess): Promise<number>;
  /** ms since the clock started. */
  now(): number;
}

/** `timeoutMs` is how long a read may take before it counts as unanswered (status 0). */
export function tracedReads(replicas: readonly ServeProcess[], node: EnrolledNode, timeoutMs: number): TracedReads {
  const started = performance.now();
  const now = () => performance.now() - started;
  const bearer = formatNodeBearer(node.kid, deriveBearerSecret(Buffer.from(node.nsk, "base64url")));
  const answers: Answer[] = [];
  return {
    answers,
    now,
    async read(replica) {
      const name = String.fromCharCode(65 + replicas.indexOf(replica));
      const sentAt = now();
      let status: number;
      let code = "";
      try {
        const response = await fetch(`${replica.url}/v1/nodes/${node.node_id}/secrets/${SECRET}`, {
          headers: { authorization: `Bearer ${bearer}` },
          signal: AbortSignal.timeout(timeoutMs),
        });
        const body = await response.text();
        status = response.status;
        if (status !== 200) code = problemCode(body);
      } catch {
        status = 0;
      }
      const at = now();
      answers.push({ replica: name, status, code, sentAt, at, latencyMs: at - sentAt });
      return status;
    },
  };
}

function problemCode(body: string): string {
  try {
    const parsed = JSON.parse(body) as { code?: unknown };
    return typeof parsed.code === "string" ? parsed.code : "";
  } catch {
    return "";
  }
}

/** GET /readyz on `replica`: status (0 when no answer within `timeoutMs`) and how long it took. */
export async function probeReady(replica: ServeProcess, timeoutMs = 15_000): Promise<{ status: number; ms: number }> {
  const sent = performance.now();
  const status = await fetch(`${replica.url}/readyz`, { signal: AbortSignal.timeout(timeoutMs) }).then(
    async (response) => { await response.arrayBuffer(); return response.status; },
    () => 0,
  );
  return { status, ms: performance.now() - sent };
}

/** Counts by "status code", e.g. `{ "200": 812, "503 audit_unavailable": 40 }`. */
export function tallyAnswers(answers: readonly Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const answer of answers) {
    const key = answer.code === "" ? String(answer.status) : `${String(answer.status)} ${answer.code}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

export function longest(answers: readonly Answer[]): number {
  return answers.reduce((max, answer) => Math.max(max, answer.latencyMs), 0);
}

/** The first 200 among the reads sent at or after `from` (ms on the drill's clock). */
export function firstOkSentAfter(answers: readonly Answer[], from: number): Answer | undefined {
  return answers.filter((answer) => answer.status === 200 && answer.sentAt >= from).sort((x, y) => x.at - y.at)[0];
}

export interface AuditAccounting {
  /** Granted secret.read records in the domain's chain. */
  readonly granted: number;
  /** Of those, the ones an audit.late_commit record names by seq (the caller was refused). */
  readonly explained: number;
  readonly lateCommits: number;
}

/** Reads the domain's chain over its own connection (direct to the server, not through a proxy). */
export async function auditAccounting(databaseUrl: string): Promise<AuditAccounting> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
  try {
    const granted = await sql<{ seq: number }[]>`
      SELECT seq::int AS seq FROM audit_events WHERE chain = ${DOMAIN} AND action = 'secret.read' AND decision = 'granted'`;
    const late = await sql<{ seq: number | null }[]>`
      SELECT (details->>'seq')::int AS seq FROM audit_events WHERE chain = ${DOMAIN} AND action = 'audit.late_commit'`;
    const named = new Set(late.map((row) => row.seq));
    return { granted: granted.length, explained: granted.filter((row) => named.has(row.seq)).length, lateCommits: late.length };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** "200s = granted records" with late commits allowed for: granted − explained must equal the 200s. */
export function describeAccounting(oks: number, before: AuditAccounting, after: AuditAccounting): { ok: boolean; text: string } {
  const granted = after.granted - before.granted;
  const explained = after.explained - before.explained;
  const ok = granted - explained === oks;
  return {
    ok,
    text: `200 answers ${String(oks)} vs granted secret.read records ${String(granted)} (${String(explained)} explained by audit.late_commit, ${String(after.lateCommits - before.lateCommits)} late-commit record(s)): ${ok ? "equal" : `DIFFERENT (${String(granted - explained - oks)} unexplained)`}`,
  };
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
