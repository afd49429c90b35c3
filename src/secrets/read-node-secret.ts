import type { Span } from "@opentelemetry/api";
import type { AuditAppender } from "../audit/audit-port.ts";
import { auditActor, auditResource } from "../audit/audit-vocabulary.ts";
import type { DenialRecorder } from "../audit/denial-recorder.ts";
import type { Authorizer } from "../authz/authorizer.ts";
import { nodeRef, secretRef } from "../authz/object-ids.ts";
import type { NodeKeyRecord } from "../nodes/node-repo.ts";
import type { WrapKeyCache } from "../nodes/wrap-key-cache.ts";
import { CustosError } from "../platform/errors.ts";
import { spanOnlyStages, type Stages } from "../platform/telemetry.ts";
import type { ReadDecisions } from "./read-decisions.ts";
import type { SecretBackend } from "./secret-backend.ts";
import type { SecretRecord } from "./secret-repo.ts";
import { wrapForNode } from "./wrap-for-node.ts";

/** Why a node's read was refused after it authenticated, as its audit record says. */
export type SecretReadDenialReason = "permission_denied" | "rate_limited_node" | "rate_limited_domain";

export interface ReadNodeSecretDependencies {
  readonly authorizer: Pick<Authorizer, "check">;
  readonly denials: Pick<DenialRecorder, "record">;
  readonly audit: AuditAppender;
  readonly backend: Pick<SecretBackend, "readSecret">;
  readonly wrapKeys: WrapKeyCache;
  /** Allowed reads remembered by node, secret and the secret's revision (read-decisions.ts); none when absent. */
  readonly decisions?: ReadDecisions;
  /** Spans and stage histograms (src/platform/telemetry.ts); spans only when absent. */
  readonly stages?: Stages;
}

export interface ReadNodeSecretInput {
  /** The node key authentication verified (the node is active, the key current or in grace). */
  readonly key: NodeKeyRecord;
  readonly name: string;
  /**
   * The secret's row in the node's domain, looked up with the key (SecretRepository
   * findWithNodeKey); undefined when there is none. Read before the check, so the check is at
   * least as fresh as the last change to its readers.
   */
  readonly secret: SecretRecord | undefined;
  readonly requestId: string;
}

export interface NodeSecretRead {
  readonly name: string;
  readonly version: number;
  /** The value as a compact JWE under the node's wrap key; the plaintext never leaves. */
  readonly jwe: string;
  /** The kid whose wrap key opens the JWE. */
  readonly kid: string;
}

function notReadable(): CustosError {
  return new CustosError("permission_denied", { detail: "this node may not read this secret" });
}

/**
 * Step 3: may this node read this secret? A remembered allow at the secret's current revision
 * answers without SpiceDB (read-decisions.ts explains why that is never stale). A secret whose
 * readers are being changed (its row has no revision) is checked fully consistent, and the
 * answer is not remembered.
 */
async function checkRead(
  deps: Pick<ReadNodeSecretDependencies, "authorizer" | "decisions">,
  nodeId: string,
  domain: string,
  name: string,
  secret: SecretRecord | undefined,
  span: Span,
): Promise<boolean> {
  const request = { resource: secretRef(domain, name), permission: "read", subject: nodeRef(nodeId) } as const;
  // No row: the same check as for a secret that exists, so the answer does not tell them apart.
  if (secret === undefined) return deps.authorizer.check(request);
  const revision = secret.authzRevision;
  if (revision === undefined) return deps.authorizer.check(request, { kind: "fully_consistent" });
  const decision = { nodeId, domain, name, authzRevision: revision };
  if (deps.decisions?.allowed(decision) === true) {
    span.setAttribute("custos.authz.cached", true);
    return true;
  }
  const allowed = await deps.authorizer.check(request, { kind: "at_least_as_fresh", token: revision });
  if (allowed) deps.decisions?.rememberAllowed(decision);
  return allowed;
}

/**
 * Steps 3 to 6 of reading a secret (DESIGN.md, "Reading a secret"), after authentication and
 * the budgets: ReBAC, the audit record, the value, the JWE. Nothing is released unless the
 * granted record has committed.
 */
export async function readNodeSecret(deps: ReadNodeSecretDependencies, input: ReadNodeSecretInput): Promise<NodeSecretRead> {
  const { key, name, requestId, secret } = input;
  const domain = key.node.domain;
  const resource = auditResource.secret(domain, name);
  const actor = auditActor.node(key.nodeId);
  // 3. ReBAC: the same answer whether or not the secret exists, at least as fresh as the
  //    last change to its readers, whichever replica made it
  const stages = deps.stages ?? spanOnlyStages;
  const allowed = await stages.run("authz.check", (span) => checkRead(deps, key.nodeId, domain, name, secret, span));
  if (!allowed) {
    const reason: SecretReadDenialReason = "permission_denied";
    await deps.denials.record({ chain: domain, actor, action: "secret.read", resource, decision: "denied", reason, requestId });
    throw notReadable();
  }
  // 4. the audit record is committed before anything is released. The backend is read
  //    meanwhile (5): reading releases nothing, and the value is dropped unless the record
  //    commits; an audit failure still answers 503 audit_unavailable first.
  //    The version Custos recorded, not "the latest": a standby serving a stale read
  //    cannot hand the node the previous value.
  const reading = stages.run("backend.read", () => Promise.all([deps.backend.readSecret(domain, name, secret?.version), deps.wrapKeys.get(key)]));
  reading.catch(() => undefined);
  try {
    await stages.run("audit.append", () => deps.audit.append({ chain: domain, actor, action: "secret.read", resource, decision: "granted", reason: "ok", requestId, details: { kid: key.kid } }));
  } catch (error) {
    // No record, no release: the value read meanwhile is wiped when it arrives.
    void reading.then(([stored]) => stored?.value.fill(0), () => undefined);
    throw error;
  }
  // 5. the value, and the node's wrap key, from the backend
  const [stored, wrapKey] = await reading;
  if (stored === undefined) throw notReadable();
  // 6. wrapped to the node's key; the plaintext is wiped whether or not wrapping succeeds
  try {
    const jwe = await stages.run("wrap", () => wrapForNode(stored.value, wrapKey, key.kid));
    return { name, version: stored.version, jwe, kid: key.kid };
  } finally {
    stored.value.fill(0);
  }
}
