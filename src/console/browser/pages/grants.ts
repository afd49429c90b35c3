import { allPages, api, domainPath } from "../api.ts";
import { field, h, replace, table } from "../dom.ts";
import type { ConsoleContext } from "../main.ts";
import type { PendingAction } from "../pending.ts";
import { offerPendingAction } from "./confirm.ts";

interface IssuedGrant {
  readonly jti: string;
  readonly node_id: string;
  readonly action: string;
  readonly actor: string;
  readonly iat: number;
  readonly exp: number;
}

const at = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString();

/** The grants page: what the domain issued (never the tokens), and for admins a form to issue one. */
export async function grantsPage(container: HTMLElement, context: ConsoleContext): Promise<void> {
  const domain = context.session.domain;
  const list = h("section", { "aria-labelledby": "grants-title" });
  const issued = h("div", { id: "grant-issued" });
  const nodes = await allPages<{ node_id: string; name: string; state: string }>(domainPath(domain, "nodes"));
  const nameOf = (nodeId: string) => nodes.find((node) => node.node_id === nodeId)?.name ?? nodeId;

  const run = async (pending: PendingAction): Promise<void> => {
    const answer = await api<{ grant: string; expires_at: string; jti: string }>("POST", domainPath(domain, "grants"), {
      node_id: pending.fields.node_id,
      action: pending.fields.action,
      ttl_seconds: Number(pending.fields.ttl_seconds),
    });
    const jwks = `${location.origin}${domainPath(domain, "jwks.json")}`;
    replace(
      issued,
      h(
        "section",
        { "aria-labelledby": "issued-title" },
        h("h2", { id: "issued-title" }, `Grant ${answer.jti}`),
        h("p", {}, `Signed for ${nameOf(pending.fields.node_id ?? "")} to ${pending.fields.action ?? ""}, valid until ${answer.expires_at}. Hand it to the node; it is not shown again.`),
        h("pre", {}, h("code", { id: "grant-token" }, answer.grant)),
        h("p", {}, "Anyone can verify it offline: it is a JWS (EdDSA) whose kid is in the domain's public keys at ", h("code", {}, jwks), "; check iss urn:custos:domain:", domain, ", aud node:<id>, and exp."),
      ),
    );
    context.notify(`Issued grant ${answer.jti}.`);
    await refresh();
  };

  const refresh = async () => {
    const grants = await allPages<IssuedGrant>(domainPath(domain, "grants"));
    const rows = grants.map((grant) => [grant.jti, nameOf(grant.node_id), grant.action, grant.actor, at(grant.iat), at(grant.exp)]);
    replace(list, h("h2", { id: "grants-title" }, "Issued grants"), table("Grants", ["jti", "Node", "Action", "Issued by", "Issued", "Expires"], rows));
  };

  if (context.roles.admin) {
    const node = h("select", { id: "grant-node" }, ...nodes.filter((each) => each.state === "active").map((each) => h("option", { value: each.node_id }, each.name)));
    const action = h("input", { id: "grant-action", required: true, pattern: "[a-z0-9._\\-]{1,64}", value: "deploy" });
    const ttl = h("input", { id: "grant-ttl", type: "number", min: 1, max: 900, value: 300, required: true });
    const form = h(
      "form",
      { "aria-labelledby": "issue-title" },
      h("h2", { id: "issue-title" }, "Issue a grant"),
      field("Node", node),
      field("Action", action, "What the grant lets the node do, e.g. deploy."),
      field("Valid for (seconds)", ttl, "At most 900."),
      h("button", { type: "submit" }, "Issue"),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const pending = { page: "grants", action: "issue", label: `issue a ${action.value} grant for ${nameOf(node.value)}`, fields: { node_id: node.value, action: action.value, ttl_seconds: ttl.value } };
      void context.act(pending, () => run(pending));
    });
    container.append(form, issued);
    // Back from a step-up: the form holds what the admin typed, and waits for the confirm.
    const resumed = offerPendingAction(container, context, "grants", run);
    if (resumed?.action === "issue") {
      node.value = resumed.fields.node_id ?? node.value;
      action.value = resumed.fields.action ?? action.value;
      ttl.value = resumed.fields.ttl_seconds ?? ttl.value;
    }
  }
  container.append(list);
  await refresh();
}
