import { actorOf, authorizeElevated, type AuthorizeElevatedDependencies } from "../access/elevated-action.ts";
import type { AuditAppender } from "../audit/audit-port.ts";
import { auditResource, type Actor } from "../audit/audit-vocabulary.ts";
import { relationship, type Authorizer } from "../authz/authorizer.ts";
import { domainRef, secretRef } from "../authz/object-ids.ts";
import type { UserCredential } from "../identity/credentials.ts";
import type { SecretBackend } from "./secret-backend.ts";
import type { SecretEvents } from "./secret-events.ts";
import { secretReaderIds } from "./secret-metadata.ts";
import type { SecretRepository } from "./secret-repo.ts";

export interface StoreSecretDependencies {
  readonly audit: AuditAppender;
  readonly authorizer: Pick<Authorizer, "writeRelationships" | "readRelationships">;
  readonly backend: Pick<SecretBackend, "writeSecret">;
  readonly secrets: Pick<SecretRepository, "upsert">;
  readonly events: Pick<SecretEvents, "secretUpdated">;
}

export interface StoreSecretInput {
  readonly actor: Actor;
  readonly domain: string;
  readonly name: string;
  /** Plaintext; wiped once the backend holds it. */
  readonly value: Buffer;
  readonly requestId: string;
}

export interface StoredSecretVersion {
  readonly name: string;
  readonly version: number;
  /** True for a new secret, false for a new version of an existing one. */
  readonly created: boolean;
}

/**
 * The effect of a secret write, for an actor already authorized (the API's admin, the dev
 * seeder): audited first, then the value to the backend, the secret's place in its domain,
 * and the row that records the version and the authorization revision. Once all that has
 * committed, each reader is told (`secret.updated`).
 */
export async function storeSecret(deps: StoreSecretDependencies, input: StoreSecretInput): Promise<StoredSecretVersion> {
  const { actor, domain, name, value, requestId } = input;
  await deps.audit.append({
    chain: domain, actor, action: "secret.write", resource: auditResource.secret(domain, name), decision: "granted", reason: "ok", requestId,
    details: { bytes: value.length },
  });
  let version: number;
  try {
    ({ version } = await deps.backend.writeSecret(domain, name, value));
  } finally {
    value.fill(0);
  }
  const revision = await deps.authorizer.writeRelationships([relationship(secretRef(domain, name), "domain", domainRef(domain))], []);
  const created = await deps.secrets.upsert({ domain, name, version, authzRevision: revision });
  const readers = await secretReaderIds(deps, domain, { name, authzRevision: revision });
  await deps.events.secretUpdated({ domain, name, version, nodeIds: readers, requestId });
  return { name, version, created };
}

export type WriteSecretDependencies = AuthorizeElevatedDependencies & StoreSecretDependencies;

/** PUT /v1/domains/{domain}/secrets/{name}: a domain admin, stepped up for secret.write. */
export async function writeSecret(
  deps: WriteSecretDependencies,
  input: Omit<StoreSecretInput, "actor"> & { readonly credential: UserCredential },
): Promise<StoredSecretVersion> {
  const { credential, domain, name, requestId } = input;
  try {
    await authorizeElevated(deps, { credential, domain, action: "secret.write", resource: auditResource.secret(domain, name), requestId });
  } catch (error) {
    input.value.fill(0);
    throw error;
  }
  return storeSecret(deps, { ...input, actor: actorOf(credential) });
}
