import { allPages, api, domainPath } from "../api.ts";
import { ago, field, h, replace, table } from "../dom.ts";
import type { ConsoleContext } from "../main.ts";
import type { PendingAction } from "../pending.ts";
import { confirmedButton, offerPendingAction } from "./confirm.ts";

interface NodeView {
  readonly node_id: string;
  readonly name: string;
  readonly state: string;
  readonly current_kid: string | null;
  readonly keys: readonly { kid: string; created_at: string; retires_at: string | null }[];
  readonly enrolled_at: string;
  readonly last_read_at: string | null;
}

/** The nodes page: the fleet, and for admins enrolment, quarantine and decommission. */
export async function nodesPage(container: HTMLElement, context: ConsoleContext): Promise<void> {
  const domain = context.session.domain;
  const list = h("section", { "aria-labelledby": "nodes-title" }, h("h2", { id: "nodes-title" }, "Enrolled nodes"));
  const nskPanel = h("div", { id: "nsk-panel" });
  const name = context.roles.admin ? h("input", { id: "enroll-name", name: "name", required: true, maxlength: 128, autocomplete: "off" }) : undefined;

  const run = async (pending: PendingAction): Promise<void> => {
    const nodePath = (suffix: string[] = []) => domainPath(domain, "nodes", pending.fields.node_id ?? "", ...suffix);
    switch (pending.action) {
      case "enroll": {
        const enrolled = await api<{ node_id: string; kid: string; nsk: string }>("POST", domainPath(domain, "nodes"), { name: pending.fields.name });
        showNskOnce(nskPanel, enrolled, pending.fields.name ?? "");
        if (name !== undefined) name.value = "";
        context.notify(`Enrolled ${pending.fields.name ?? ""}.`);
        break;
      }
      case "quarantine":
        await api("POST", nodePath(["quarantine"]));
        context.notify(`Quarantined ${pending.fields.name ?? ""}: its reads are refused until lifted.`);
        break;
      case "lift":
        await api("DELETE", nodePath(["quarantine"]));
        context.notify(`Lifted the quarantine of ${pending.fields.name ?? ""}.`);
        break;
      case "decommission":
        await api("DELETE", nodePath());
        context.notify(`Decommissioned ${pending.fields.name ?? ""}: its keys no longer work.`);
        break;
      default:
        return;
    }
    await refresh();
  };

  const refresh = async () => {
    const nodes = await allPages<NodeView>(domainPath(domain, "nodes"));
    const rows = nodes.map((node) => {
      const key = node.keys.find((each) => each.kid === node.current_kid);
      const actions: HTMLElement[] = [];
      if (context.roles.admin && node.state !== "decommissioned") {
        const fields = { node_id: node.node_id, name: node.name };
        const flip = node.state === "quarantined" ? "lift" : "quarantine";
        const toggle = h("button", { type: "button", class: "secondary" }, flip === "lift" ? "Lift quarantine" : "Quarantine");
        toggle.addEventListener("click", () => {
          const pending = { page: "nodes", action: flip, label: `${flip === "lift" ? "lift the quarantine of" : "quarantine"} node ${node.name}`, fields };
          void context.act(pending, () => run(pending));
        });
        actions.push(toggle);
        actions.push(
          confirmedButton("Decommission", `Decommission ${node.name}? Its keys stop working at once and it loses every secret. This cannot be undone.`, () => {
            const pending = { page: "nodes", action: "decommission", label: `decommission node ${node.name}`, fields };
            void context.act(pending, () => run(pending));
          }),
        );
      }
      return [
        h("span", { title: node.node_id }, node.name),
        node.state,
        node.current_kid ?? "-",
        key === undefined ? "-" : ago(key.created_at),
        ago(node.last_read_at),
        h("span", {}, ...actions),
      ];
    });
    replace(list, h("h2", { id: "nodes-title" }, "Enrolled nodes"), table("Nodes", ["Name", "State", "Current key", "Key age", "Last read", ""], rows));
  };

  if (context.roles.admin && name !== undefined) {
    const form = h(
      "form",
      { "aria-labelledby": "enroll-title" },
      h("h2", { id: "enroll-title" }, "Enroll a node"),
      field("Node name", name, "A name you will recognise, e.g. web-1. The node's key is shown once, here."),
      h("button", { type: "submit" }, "Enroll"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const pending = { page: "nodes", action: "enroll", label: `enroll node ${name.value}`, fields: { name: name.value } };
      void context.act(pending, () => run(pending));
    });
    container.append(form, nskPanel);
    // Back from a step-up: the form holds what the admin typed, and waits for the confirm.
    const resumed = offerPendingAction(container, context, "nodes", run);
    if (resumed?.action === "enroll") name.value = resumed.fields.name ?? "";
  }
  container.append(list);
  await refresh();
}

/**
 * The NSK, once: with a copy and a download button and the exact command the node runs. It
 * lives only in this panel; reloading the page loses it, and Custos cannot show it again.
 */
function showNskOnce(panel: HTMLElement, enrolled: { node_id: string; kid: string; nsk: string }, name: string): void {
  const file = `${(name || enrolled.node_id).replace(/[^A-Za-z0-9._-]/g, "-")}.nsk`;
  const command = `custos node fetch --url ${location.origin} --node-id ${enrolled.node_id} --kid ${enrolled.kid} --nsk-file ./${file} <secret-name>`;
  const value = h("output", { id: "nsk-value", class: "secret" }, enrolled.nsk);
  const copy = h("button", { type: "button" }, "Copy the NSK");
  copy.addEventListener("click", () => {
    void navigator.clipboard.writeText(enrolled.nsk).then(() => { copy.textContent = "Copied"; });
  });
  const download = h("a", { class: "button", download: file, href: URL.createObjectURL(new Blob([`${enrolled.nsk}\n`], { type: "text/plain" })) }, `Download ${file}`);
  replace(
    panel,
    h(
      "section",
      { class: "nsk-once", "aria-labelledby": "nsk-title" },
      h("h2", { id: "nsk-title" }, `The key of ${name}: shown once`),
      h("p", {}, "Put it on the node in a file only the node can read (mode 0600). Custos keeps only a digest: it cannot show this key again."),
      h("dl", {}, h("dt", {}, "Node id"), h("dd", { id: "nsk-node-id" }, enrolled.node_id), h("dt", {}, "Key id"), h("dd", { id: "nsk-kid" }, enrolled.kid), h("dt", {}, "NSK"), h("dd", {}, value)),
      copy,
      download,
      h("p", {}, "On the node, fetch a secret with:"),
      h("pre", {}, h("code", {}, command)),
    ),
  );
}
