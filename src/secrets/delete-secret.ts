import { actorOf, authorizeElevated, type AuthorizeElevatedDependencies } from "../access/elevated-action.ts";
import type { AuditAppender } from "../audit/audit-port.ts";
import { auditResource } from "../audit/audit-vocabulary.ts";
import { relationship, type Authorizer, type Relationship } from "../authz/authorizer.ts";
import { domainRef, nodeRef, secretRef } from "../authz/object-ids.ts";
import type { UserCredential } from "../identity/credentials.ts";
import { CustosError } from "../platform/errors.ts";
import type { SecretBackend } from "./secret-backend.ts";
import { secretReaderIds } from "./secret-metadata.ts";
import type { SecretEvents } from "./secret-events.ts";
import type { SecretRepository } from "./secret-repo.ts";

export interface DeleteSecretDependencies extends AuthorizeElevatedDependencies {
  readonly audit: AuditAppender;
  readonly authorizer: Authorizer;
  readonly backend: Pick<SecretBackend, "deleteSecret">;
  readonly secrets: Pick<SecretRepository, "describe" | "remove" | "clearAuthzRevision">;
  readonly events: Pick<SecretEvents, "secretRevoked">;
}

export interface DeleteSecretInput {
  readonly credential: UserCredential;
  readonly domain: string;
  readonly name: string;
  readonly requestId: string;
}

function readerRelationships(domain: string, name: string, readerIds: readonly string[]): Relationship[] {
  return readerIds.map((nodeId) => relationship(secretRef(domain, name), "reader", nodeRef(nodeId)));
}

/**
 * DELETE /v1/domains/{domain}/secrets/{name}: a domain admin, stepped up for secret.delete.
 * Audited first; then, in the order that never leaves a readable secret behind a failure,
 * the readers are removed (SpiceDB), every version is destroyed in the backend, and the
 * secret's row goes last, so a deletion that failed half-way is retried with the same call
 * (the secret is still listed) rather than answered 404. Once it is gone, every former
 * reader is told (`secret.revoked`).
 */
export async function deleteSecret(deps: DeleteSecretDependencies, input: DeleteSecretInput): Promise<void> {
  const { credential, domain, name, requestId } = input;
  const resource = auditResource.secret(domain, name);
  await authorizeElevated(deps, { credential, domain, action: "secret.delete", resource, requestId });
  const secret = await deps.secrets.describe(domain, name);
  if (secret === undefined) throw new CustosError("not_found", { detail: "no such secret in this domain" });
  const readerIds = await secretReaderIds(deps, domain, secret);
  await deps.audit.append({
    chain: domain, actor: actorOf(credential), action: "secret.delete", resource, decision: "granted", reason: "ok", requestId,
    details: { version: secret.version, readers: readerIds.length },
  });
  // Every relationship Custos wrote for the secret: its readers and its place in its domain.
  // The revision goes first, so that no remembered allow outlives a deletion that fails half-way.
  await deps.secrets.clearAuthzRevision(domain, name);
  await deps.authorizer.writeRelationships([], [...readerRelationships(domain, name, readerIds), relationship(secretRef(domain, name), "domain", domainRef(domain))]);
  await deps.backend.deleteSecret(domain, name);
  await deps.secrets.remove(domain, name);
  // A reader added while this ran (its change checked the row before it went) is swept up
  // here, so a secret created later under the same name does not inherit it.
  const late = await secretReaderIds(deps, domain, { name, authzRevision: undefined });
  if (late.length > 0) await deps.authorizer.writeRelationships([], readerRelationships(domain, name, late));
  await deps.events.secretRevoked({ domain, name, nodeIds: [...new Set([...readerIds, ...late])], requestId });
}
