import { allPages, api, domainPath } from "../api.ts";
import { ago, field, h, replace, table } from "../dom.ts";
import type { ConsoleContext } from "../main.ts";
import type { PendingAction } from "../pending.ts";
import { confirmedButton, offerPendingAction } from "./confirm.ts";

interface SecretSummary {
  readonly name: string;
  readonly version: number;
  readonly updated_at: string;
  readonly reader_count: number;
}

interface SecretDetails {
  readonly name: string;
  readonly version: number;
  readonly readers: readonly { node_id: string; name: string | null }[];
}

interface NodeOption {
  readonly node_id: string;
  readonly name: string;
  readonly state: string;
}

/** The secrets page: names, versions and readers (never a value); admins write, grant and delete. */
export async function secretsPage(container: HTMLElement, context: ConsoleContext): Promise<void> {
  const domain = context.session.domain;
  const list = h("section", { "aria-labelledby": "secrets-title" });
  const details = h("section", { id: "secret-details", "aria-live": "polite" });
  const nameInput = h("input", { id: "secret-name", name: "name", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,127}", autocomplete: "off" });
  const valueInput = h("textarea", { id: "secret-value", name: "value", rows: 3, autocomplete: "off", spellcheck: "false" });
  const fileInput = h("input", { id: "secret-file", name: "file", type: "file" });

  const run = async (pending: PendingAction): Promise<void> => {
    const name = pending.fields.name ?? "";
    switch (pending.action) {
      case "write": {
        const value = await valueOf(valueInput, fileInput);
        if (value === undefined) {
          nameInput.value = name;
          context.notify(`Enter the value of ${name} again (a value is never kept in the browser while you sign in), then write it.`, "error");
          valueInput.focus();
          return;
        }
        const written = await api<{ version: number }>("PUT", domainPath(domain, "secrets", name), { value });
        valueInput.value = "";
        fileInput.value = "";
        context.notify(`Wrote ${name}, version ${String(written.version)}.`);
        break;
      }
      case "grant":
      case "revoke":
        await api(pending.action === "grant" ? "PUT" : "DELETE", domainPath(domain, "secrets", name, "readers", pending.fields.node_id ?? ""));
        context.notify(pending.action === "grant" ? `${pending.fields.node_name ?? "The node"} may now read ${name}.` : `${pending.fields.node_name ?? "The node"} can no longer read ${name}.`);
        await showDetails(name);
        break;
      case "delete":
        await api("DELETE", domainPath(domain, "secrets", name));
        replace(details);
        context.notify(`Deleted ${name}: every version is gone and no node can read it.`);
        break;
      default:
        return;
    }
    await refresh();
  };

  const showDetails = async (name: string): Promise<void> => {
    const secret = await api<SecretDetails>("GET", domainPath(domain, "secrets", name));
    const rows = secret.readers.map((reader) => {
      const remove = h("button", { type: "button", class: "secondary" }, "Remove");
      remove.addEventListener("click", () => {
        const pending = { page: "secrets", action: "revoke", label: `stop ${reader.name ?? reader.node_id} reading ${name}`, fields: { name, node_id: reader.node_id, node_name: reader.name ?? reader.node_id } };
        void context.act(pending, () => run(pending));
      });
      return [reader.name ?? "-", reader.node_id, context.roles.admin ? remove : ""];
    });
    const parts: HTMLElement[] = [h("h2", {}, `${secret.name}, version ${String(secret.version)}`), table(`Readers of ${secret.name}`, ["Node", "Node id", ""], rows)];
    if (context.roles.admin) {
      const nodes = (await allPages<NodeOption>(domainPath(domain, "nodes"))).filter((node) => node.state !== "decommissioned" && !secret.readers.some((reader) => reader.node_id === node.node_id));
      const select = h("select", { id: "reader-node" }, ...nodes.map((node) => h("option", { value: node.node_id }, node.name)));
      const add = h("form", {}, field("Let a node read it", select), h("button", { type: "submit", disabled: nodes.length === 0 }, "Add reader"));
      add.addEventListener("submit", (event) => {
        event.preventDefault();
        const node = nodes.find((each) => each.node_id === select.value);
        if (node === undefined) return;
        const pending = { page: "secrets", action: "grant", label: `let ${node.name} read ${name}`, fields: { name, node_id: node.node_id, node_name: node.name } };
        void context.act(pending, () => run(pending));
      });
      parts.push(
        add,
        confirmedButton("Delete this secret", `Delete ${name}? Every version is destroyed and its readers lose it. This cannot be undone.`, () => {
          const pending = { page: "secrets", action: "delete", label: `delete the secret ${name}`, fields: { name } };
          void context.act(pending, () => run(pending));
        }),
      );
    }
    replace(details, ...parts);
  };

  const refresh = async () => {
    const secrets = await allPages<SecretSummary>(domainPath(domain, "secrets"));
    const rows = secrets.map((secret) => {
      const open = h("button", { type: "button", class: "link" }, secret.name);
      open.addEventListener("click", () => { void showDetails(secret.name).catch(context.refused); });
      return [open, secret.version, ago(secret.updated_at), secret.reader_count];
    });
    replace(list, h("h2", { id: "secrets-title" }, "Secrets"), table("Secrets", ["Name", "Version", "Updated", "Readers"], rows));
  };

  if (context.roles.admin) {
    const form = h(
      "form",
      { "aria-labelledby": "write-title" },
      h("h2", { id: "write-title" }, "Write a secret"),
      field("Name", nameInput, "Letters, digits, '.', '_' and '-'. Writing an existing name adds a new version."),
      field("Value", valueInput, "Or choose a file below; the value is sent once and never shown again."),
      field("Value from a file", fileInput),
      h("button", { type: "submit" }, "Write"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const pending = { page: "secrets", action: "write", label: `write the secret ${nameInput.value}`, fields: { name: nameInput.value } };
      void context.act(pending, () => run(pending));
    });
    container.append(form);
    const resumed = offerPendingAction(container, context, "secrets", run);
    if (resumed?.action === "write") nameInput.value = resumed.fields.name ?? "";
  }
  container.append(list, details);
  await refresh();
}

async function valueOf(text: HTMLTextAreaElement, file: HTMLInputElement): Promise<string | undefined> {
  const chosen = file.files?.[0];
  if (chosen !== undefined) return chosen.text();
  return text.value === "" ? undefined : text.value;
}
