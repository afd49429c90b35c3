import { actorOf, authorizeElevated, type AuthorizeElevatedDependencies } from "../access/elevated-action.ts";
import type { AuditAppender } from "../audit/audit-port.ts";
import { auditResource, type Actor } from "../audit/audit-vocabulary.ts";
import { relationship, type Authorizer } from "../authz/authorizer.ts";
import { nodeRef, secretRef } from "../authz/object-ids.ts";
import type { UserCredential } from "../identity/credentials.ts";
import type { NodeRepository } from "../nodes/node-repo.ts";
import { CustosError } from "../platform/errors.ts";
import type { SecretEvents } from "./secret-events.ts";
import type { SecretRepository } from "./secret-repo.ts";

/** Why a reader change was granted, as its audit record says. */
export type SecretReaderChange = "reader_added" | "reader_removed";

export interface ChangeSecretReaderDependencies {
  readonly audit: AuditAppender;
  readonly authorizer: Pick<Authorizer, "writeRelationships">;
  readonly nodes: Pick<NodeRepository, "findNode">;
  readonly secrets: Pick<SecretRepository, "find" | "setAuthzRevision" | "clearAuthzRevision">;
  readonly events: SecretEvents;
}

export interface ChangeSecretReaderInput {
  readonly actor: Actor;
  readonly domain: string;
  readonly name: string;
  readonly nodeId: string;
  readonly change: SecretReaderChange;
  readonly requestId: string;
}

/**
 * The effect of adding or removing a secret's reader, for an actor already authorized: the
 * node and the secret must both be the domain's (anything else is answered as missing), the
 * change is audited, made in SpiceDB, and its revision kept with the secret so that every
 * replica's next read checks at least this fresh. The old revision is cleared before SpiceDB
 * changes, so a change that fails half-way leaves no revision under which an allow
 * remembered before it could still be served (read-decisions.ts). Then the node is told: `secret.updated`
 * (its current version) when added, `secret.revoked` when removed.
 */
export async function changeSecretReader(deps: ChangeSecretReaderDependencies, input: ChangeSecretReaderInput): Promise<void> {
  const { actor, domain, name, nodeId, change, requestId } = input;
  const node = await deps.nodes.findNode(nodeId);
  const secret = await deps.secrets.find(domain, name);
  if (node?.domain !== domain || secret === undefined) throw new CustosError("not_found", { detail: "no such secret or node in this domain" });
  await deps.audit.append({
    chain: domain, actor, action: "secret.grant", resource: auditResource.secret(domain, name), decision: "granted",
    reason: change, requestId, details: { node_id: nodeId },
  });
  const reader = relationship(secretRef(domain, name), "reader", nodeRef(nodeId));
  await deps.secrets.clearAuthzRevision(domain, name);
  const revision = await deps.authorizer.writeRelationships(change === "reader_added" ? [reader] : [], change === "reader_removed" ? [reader] : []);
  await deps.secrets.setAuthzRevision(domain, name, revision);
  if (change === "reader_added") await deps.events.secretUpdated({ domain, name, version: secret.version, nodeIds: [nodeId], requestId });
  else await deps.events.secretRevoked({ domain, name, nodeIds: [nodeId], requestId });
}

export type SetSecretReaderDependencies = AuthorizeElevatedDependencies & ChangeSecretReaderDependencies;

/** PUT and DELETE /v1/domains/{domain}/secrets/{name}/readers/{node_id}: a domain admin, stepped up for secret.grant. */
export async function setSecretReader(
  deps: SetSecretReaderDependencies,
  input: Omit<ChangeSecretReaderInput, "actor"> & { readonly credential: UserCredential },
): Promise<void> {
  const { credential, domain, name, requestId } = input;
  await authorizeElevated(deps, { credential, domain, action: "secret.grant", resource: auditResource.secret(domain, name), requestId });
  await changeSecretReader(deps, { ...input, actor: actorOf(credential) });
}
