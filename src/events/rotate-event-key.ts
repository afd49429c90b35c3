import { actorOf, authorizeElevated, type AuthorizeElevatedDependencies } from "../access/elevated-action.ts";
import type { SigningKeys } from "../access/signing-keys.ts";
import type { AuditAppender } from "../audit/audit-port.ts";
import { auditResource } from "../audit/audit-vocabulary.ts";
import type { UserCredential } from "../identity/credentials.ts";
import type { NodeRepository } from "../nodes/node-repo.ts";
import type { EventAnnouncer } from "./event-announcer.ts";

export interface RotateEventKeyDependencies extends AuthorizeElevatedDependencies {
  readonly audit: AuditAppender;
  readonly eventKeys: Pick<SigningKeys, "activeKey" | "rotate" | "publicJwks">;
  readonly nodes: Pick<NodeRepository, "listNodes">;
  readonly events: Pick<EventAnnouncer, "announce">;
}

export interface RotatedEventKey {
  readonly kid: string;
  readonly previousKid: string;
}

const NODE_PAGE = 500;

/** Every node of the domain that can still hear: active and quarantined ones (not decommissioned). */
async function listeningNodes(nodes: Pick<NodeRepository, "listNodes">, domain: string): Promise<string[]> {
  const ids: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await nodes.listNodes(domain, after, NODE_PAGE);
    ids.push(...page.filter((node) => node.status !== "decommissioned").map((node) => node.id));
    if (page.length < NODE_PAGE) return ids;
    after = page.at(-1)?.id;
  }
}

/**
 * POST /v1/domains/{domain}/event-keys/rotate: a domain admin, stepped up for event_key.rotate.
 * Audited first; then a new active event key, and every node of the domain is sent
 * `keys.rotated` listing the event keys now published, signed with the PREVIOUS key — the one
 * the agents already trust — so that an agent can move its pin without a trust step. The new
 * key signs everything after. The previous key stays published for the event lifetime plus
 * the leeway, so envelopes it signed just before still verify.
 */
export async function rotateEventKey(
  deps: RotateEventKeyDependencies,
  input: { readonly credential: UserCredential; readonly domain: string; readonly requestId: string },
): Promise<RotatedEventKey> {
  const { credential, domain, requestId } = input;
  await authorizeElevated(deps, { credential, domain, action: "event_key.rotate", resource: auditResource.domain(domain), requestId });
  const previous = await deps.eventKeys.activeKey(domain);
  await deps.audit.append({
    chain: domain, actor: actorOf(credential), action: "event_key.rotate", resource: auditResource.domain(domain), decision: "granted", reason: "ok", requestId,
    details: { previous_kid: previous.kid },
  });
  const next = await deps.eventKeys.rotate(domain);
  const { keys } = await deps.eventKeys.publicJwks(domain);
  await deps.events.announce({
    domain, event: { type: "keys.rotated", data: { keys } }, recipients: await listeningNodes(deps.nodes, domain), requestId, signWith: previous,
  });
  return { kid: next.kid, previousKid: previous.kid };
}
