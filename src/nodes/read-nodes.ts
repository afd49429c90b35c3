import { auditActor, type Actor } from "../audit/audit-vocabulary.ts";
import type { Page, PageRequest } from "../http/paging.ts";
import { pageOf } from "../http/paging.ts";
import { CustosError } from "../platform/errors.ts";
import { isNodeId } from "../platform/names.ts";
import type { NodeRepository, NodeSummary } from "./node-repo.ts";

/**
 * The node read verbs: metadata only (names, states, kids and their ages, times), never key
 * material. Who may call them (the domain's admins and auditors) is the route's gate; a
 * successful read is not audited (docs/design.md, "Audit log").
 */
export interface ReadNodesDependencies {
  readonly nodes: Pick<NodeRepository, "listNodes" | "findNodeSummary">;
  /**
   * When each actor last read a secret on `chain` (ISO 8601; absent if never), from the audit
   * store's granted `secret.read` records: one call per page, and no write on the read path.
   */
  readonly lastSecretReads: (chain: string, actors: readonly Actor[]) => Promise<ReadonlyMap<string, string>>;
}

/** A node with what is derived for the read APIs. */
export interface NodeView extends NodeSummary {
  /** The key that authenticates without a grace period; undefined once decommissioned. */
  readonly currentKid: string | undefined;
  /** ISO 8601: its newest granted secret read. */
  readonly lastReadAt: string | undefined;
}

async function withLastReads(deps: ReadNodesDependencies, domain: string, nodes: readonly NodeSummary[]): Promise<NodeView[]> {
  const lastReads = await deps.lastSecretReads(domain, nodes.map((node) => auditActor.node(node.id)));
  return nodes.map((node) => ({
    ...node,
    currentKid: node.status === "decommissioned" ? undefined : node.keys.find((key) => key.retiresAt === undefined)?.kid,
    lastReadAt: lastReads.get(auditActor.node(node.id)),
  }));
}

/** GET /v1/domains/{domain}/nodes: one page, in node-id order. */
export async function listNodes(deps: ReadNodesDependencies, input: { readonly domain: string; readonly page: PageRequest }): Promise<Page<NodeView>> {
  const { domain, page } = input;
  // The cursor is the last node id of the previous page; anything else was not made by us.
  if (page.after !== undefined && !isNodeId(page.after)) throw new CustosError("invalid_request", { detail: "cursor must be a next_cursor from an earlier page" });
  const rows = await deps.nodes.listNodes(domain, page.after, page.limit + 1);
  const found = pageOf(rows, page, (node) => node.id);
  return { items: await withLastReads(deps, domain, found.items), nextCursor: found.nextCursor };
}

/** GET /v1/domains/{domain}/nodes/{node_id}: another domain's node is answered like a missing one. */
export async function showNode(deps: ReadNodesDependencies, input: { readonly domain: string; readonly nodeId: string }): Promise<NodeView> {
  const node = await deps.nodes.findNodeSummary(input.domain, input.nodeId);
  if (node === undefined) throw new CustosError("not_found", { detail: "no such node in this domain" });
  const [view] = await withLastReads(deps, input.domain, [node]);
  if (view === undefined) throw new CustosError("not_found", { detail: "no such node in this domain" });
  return view;
}

/** The wire shape of a node (snake_case; null for what is not there). */
export function nodeBody(node: NodeView): Record<string, unknown> {
  return {
    node_id: node.id,
    name: node.name,
    state: node.status,
    current_kid: node.currentKid ?? null,
    keys: node.keys.map((key) => ({ kid: key.kid, created_at: key.createdAt, retires_at: key.retiresAt ?? null })),
    enrolled_at: node.enrolledAt,
    last_read_at: node.lastReadAt ?? null,
    decommissioned_at: node.decommissionedAt ?? null,
  };
}
