import { api, domainPath } from "../api.ts";
import { ago, field, h, replace, table } from "../dom.ts";
import { explainVerificationFailure } from "../explain.ts";
import type { ConsoleContext } from "../main.ts";

interface VerificationReport {
  readonly ok: boolean;
  readonly rows_checked: number;
  readonly head: { seq: number; hash: string; at: string } | null;
  readonly checkpoint: { seq: number; hash: string; checked: boolean } | null;
  readonly failure: { kind: string; seq: number; detail: string } | null;
}

interface AuditEvent {
  readonly seq: number;
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly resource: string;
  readonly decision: string;
  readonly reason: string;
  readonly request_id: string;
}

const PAGE_SIZE = 100;

/** The auditor's page: the chain's head and last verification, verify now, events, checkpoints. */
export function auditPage(container: HTMLElement, context: ConsoleContext): void {
  const domain = context.session.domain;
  const lastKey = `custos.console.verified.${domain}`;
  const overview = h("section", { "aria-labelledby": "chain-title" });
  const result = h("div", { id: "verify-result", "aria-live": "polite" });
  const verify = h("button", { type: "button", id: "verify-now" }, "Verify now");

  const checkpointKey = `custos.console.checkpoint.${domain}`;
  const showOverview = (report: VerificationReport | undefined, when: string | undefined) => {
    const kept = localStorage.getItem(checkpointKey);
    const checkpointSeen = kept === null ? undefined : (JSON.parse(kept) as { seq: number; signed_at: string });
    replace(
      overview,
      h("h2", { id: "chain-title" }, `The ${domain} chain`),
      h(
        "dl",
        {},
        h("dt", {}, "Head"), h("dd", { id: "chain-head" }, headOf(report)),
        h("dt", {}, "Last checkpoint"), h("dd", { id: "chain-checkpoint" }, checkpointSeen === undefined ? "none signed from this browser" : `seq ${String(checkpointSeen.seq)}, signed ${ago(checkpointSeen.signed_at)}`),
        h("dt", {}, "Last verification"), h("dd", { id: "chain-verified" }, when === undefined || report === undefined ? "not yet from this browser" : `${report.ok ? "OK" : "FAILED"}, ${ago(when)}`),
      ),
      verify,
      result,
    );
  };
  const stored = localStorage.getItem(lastKey);
  let last = stored === null ? undefined : (JSON.parse(stored) as { report: VerificationReport; at: string });
  showOverview(last?.report, last?.at);

  verify.addEventListener("click", () => {
    verify.disabled = true;
    replace(result, h("p", { role: "status" }, h("progress", { "aria-label": "Verifying" }), " Verifying every record of the chain…"));
    void api<VerificationReport>("GET", domainPath(domain, "audit", "verify")).then(
      (report) => {
        const at = new Date().toISOString();
        last = { report, at };
        localStorage.setItem(lastKey, JSON.stringify(last));
        showOverview(report, at);
        replace(
          result,
          report.ok
            ? h("p", { class: "notice ok", role: "status", id: "verify-ok" }, `OK: ${String(report.rows_checked)} records checked; every hash and link holds.`)
            : h("p", { class: "notice error", role: "alert", id: "verify-failure" }, report.failure === null ? "The chain did not verify." : explainVerificationFailure(report.failure)),
        );
        verify.disabled = false;
        verify.focus();
      },
      (error: unknown) => {
        replace(result);
        context.refused(error);
        verify.disabled = false;
      },
    );
  });

  const commands = h("code", { id: "offline-commands" }, offlineCommands(domain, `${domain}-checkpoint-<seq>.json`));
  const checkpoint = h("button", { type: "button", id: "checkpoint-download" }, "Sign and download a checkpoint");
  checkpoint.addEventListener("click", () => {
    void api<{ seq: number; signed_at: string }>("POST", domainPath(domain, "audit", "checkpoints")).then((signed) => {
      const file = `${domain}-checkpoint-${String(signed.seq)}.json`;
      const link = h("a", { download: file, href: URL.createObjectURL(new Blob([`${JSON.stringify(signed, null, 2)}\n`], { type: "application/json" })) });
      document.body.append(link);
      link.click();
      link.remove();
      localStorage.setItem(checkpointKey, JSON.stringify({ seq: signed.seq, signed_at: signed.signed_at }));
      showOverview(last?.report, last?.at);
      replace(commands, offlineCommands(domain, file));
      context.notify(`Checkpoint of seq ${String(signed.seq)} signed and downloaded as ${file}: keep it somewhere the database administrator cannot write.`);
    }, context.refused);
  });
  const offline = h(
    "section",
    { "aria-labelledby": "offline-title" },
    h("h2", { id: "offline-title" }, "Checkpoints and offline verification"),
    h("p", {}, "A checkpoint is the chain's head signed with the audit key. Kept outside Custos, it later proves that no record up to it was rewritten or removed."),
    checkpoint,
    h("p", {}, "Export a mirror (on a machine with the server's configuration), then verify it anywhere with the public audit keys only:"),
    h("pre", {}, commands),
  );

  container.append(overview, eventsSection(domain, context), offline);
}

/** The head a verification established; a failed one establishes none past its failure. */
function headOf(report: VerificationReport | undefined): string {
  if (report === undefined) return "not known until verified from this browser";
  if (!report.ok) return `not established: verification stopped at seq ${String(report.failure?.seq ?? report.rows_checked + 1)}`;
  return report.head === null ? "no records yet" : `seq ${String(report.head.seq)}, hash ${report.head.hash}`;
}

/** Export a mirror, then check it and a kept checkpoint with nothing but the public keys. */
function offlineCommands(domain: string, checkpointFile: string): string {
  return [
    `custos audit export ${domain} --out ./mirror-${domain}`,
    `custos audit verify ${domain} --keys ${location.origin}/v1/audit/keys --mirror ./mirror-${domain} --checkpoint ./${checkpointFile}`,
  ].join("\n");
}

/** The events table: filters the API applies to the whole chain, and "load more" for the next page. */
function eventsSection(domain: string, context: ConsoleContext): HTMLElement {
  const events: AuditEvent[] = [];
  let after = 0;
  let exhausted = false;
  const action = h("input", { id: "filter-action", placeholder: "secret.read" });
  const decision = h("select", { id: "filter-decision" }, h("option", { value: "" }, "any"), h("option", { value: "granted" }, "granted"), h("option", { value: "denied" }, "denied"), h("option", { value: "recorded" }, "recorded"));
  const actor = h("input", { id: "filter-actor", placeholder: "node:…" });
  const from = h("input", { id: "filter-from", type: "datetime-local" });
  const to = h("input", { id: "filter-to", type: "datetime-local" });
  const more = h("button", { type: "button", class: "secondary" }, "Load more");
  const rows = h("div", { id: "events-table" });
  const section = h(
    "section",
    { "aria-labelledby": "events-title" },
    h("h2", { id: "events-title" }, "Events"),
    h("form", { class: "filters", role: "search" }, field("Action", action), field("Decision", decision), field("Actor contains", actor), field("From", from), field("To", to)),
    rows,
    more,
  );
  /** The filter as the events API takes it (server side: it applies to the whole chain). */
  const query = (): string => {
    const parameters = new URLSearchParams();
    if (action.value.trim() !== "") parameters.set("action", action.value.trim());
    if (decision.value !== "") parameters.set("decision", decision.value);
    if (actor.value.trim() !== "") parameters.set("actor", actor.value.trim());
    if (from.value !== "") parameters.set("since", new Date(from.value).toISOString());
    if (to.value !== "") parameters.set("until", new Date(to.value).toISOString());
    return parameters.toString();
  };
  const render = () => {
    replace(
      rows,
      h("p", { id: "events-summary" }, `${String(events.length)} ${query() === "" ? "" : "matching "}events shown${exhausted ? " (all of them)" : ""}.`),
      table("Audit events", ["Seq", "At", "Actor", "Action", "Resource", "Decision", "Reason"], events.map((event) => [event.seq, event.at, event.actor, event.action, event.resource, event.decision, event.reason])),
    );
    more.disabled = exhausted;
  };
  /**
   * The next PAGE_SIZE matching events. With a filter one request examines a bounded window of
   * the chain, so a page may come back short while `more` says the chain goes on: ask again.
   */
  let generation = 0;
  const load = async () => {
    const mine = generation;
    const filter = query();
    let found = 0;
    let more = true;
    while (more && found < PAGE_SIZE) {
      const page = await api<{ events: AuditEvent[]; next_after: number; more: boolean }>(
        "GET",
        `${domainPath(domain, "audit", "events")}?after=${String(after)}&limit=${String(PAGE_SIZE - found)}${filter === "" ? "" : `&${filter}`}`,
      );
      if (mine !== generation) return;
      events.push(...page.events);
      found += page.events.length;
      after = page.next_after;
      more = page.more;
    }
    exhausted = !more;
    render();
  };
  const reload = () => {
    generation += 1;
    events.length = 0;
    after = 0;
    exhausted = false;
    void load().catch(context.refused);
  };
  let pending: number | undefined;
  for (const input of [action, decision, actor, from, to]) {
    input.addEventListener("input", () => {
      window.clearTimeout(pending);
      pending = window.setTimeout(reload, 250);
    });
  }
  more.addEventListener("click", () => {
    void load().catch(context.refused);
  });
  void load().catch(context.refused);
  return section;
}
