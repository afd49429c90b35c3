import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import type { AuditAppender } from "../audit/audit-port.ts";
import { FOR_PEOPLE, type Authorizer } from "../authz/authorizer.ts";
import { nodeRef, userRef } from "../authz/object-ids.ts";
import type { UserCredential } from "../identity/credentials.ts";
import { jsonObjectBody } from "../http/request-body.ts";
import { CustosError } from "../platform/errors.ts";
import { isNodeId } from "../platform/names.ts";
import { actorOf, enforceStepUp, type StepUpGateDependencies } from "./elevated-action.ts";
import type { GrantEvents } from "./grant-events.ts";
import type { GrantSigningKeys } from "./signing-keys.ts";
import { auditResource } from "../audit/audit-vocabulary.ts";

export const DEFAULT_GRANT_TTL_SECONDS = 300;
export const MAX_GRANT_TTL_SECONDS = 900;
const GRANT_ACTION = /^[a-z][a-z0-9._-]{0,63}$/;

export interface GrantRequest {
  readonly nodeId: string;
  /** What the node should let the admin do, e.g. `ssh.login`; carried in the grant. */
  readonly action: string;
  readonly ttlSeconds: number;
}

function invalid(detail: string): CustosError {
  return new CustosError("invalid_request", { detail });
}

export function parseGrantRequest(body: unknown): GrantRequest {
  const { node_id: nodeId, action, ttl_seconds: ttl } = jsonObjectBody(body, ["node_id", "action", "ttl_seconds"]);
  if (typeof nodeId !== "string" || !isNodeId(nodeId)) throw invalid("node_id must be a node id (a lowercase UUID)");
  if (typeof action !== "string" || !GRANT_ACTION.test(action)) throw invalid("action must be 1-64 characters of a-z, 0-9, '.', '_' and '-'");
  if (ttl !== undefined && (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl < 1 || ttl > MAX_GRANT_TTL_SECONDS)) {
    throw invalid(`ttl_seconds must be a whole number from 1 to ${String(MAX_GRANT_TTL_SECONDS)}`);
  }
  return { nodeId, action, ttlSeconds: ttl ?? DEFAULT_GRANT_TTL_SECONDS };
}

export interface IssueGrantDependencies extends StepUpGateDependencies {
  readonly authorizer: Authorizer;
  readonly keys: GrantSigningKeys;
  readonly audit: AuditAppender;
  readonly events: GrantEvents;
}

export interface IssuedGrant {
  readonly grant: string;
  readonly expires_at: string;
  readonly jti: string;
}

export function grantIssuer(domain: string): string {
  return `urn:custos:domain:${domain}`;
}

/**
 * Elevated issuance (DESIGN.md): the admin may act on the node (SpiceDB), has stepped up
 * for `access.issue`, and the grant is audited — committed — before it is signed and
 * returned. Each decision is exactly one audit record with its reason. The node is then sent
 * the grant (`grant.issued`).
 */
export async function issueGrant(
  deps: IssueGrantDependencies,
  credential: UserCredential,
  domain: string,
  request: GrantRequest,
  requestId: string,
): Promise<IssuedGrant> {
  const resource = auditResource.node(request.nodeId);
  const mayAct = await deps.authorizer.check({ resource: nodeRef(request.nodeId), permission: "act", subject: userRef(credential.subject) }, FOR_PEOPLE);
  if (!mayAct) {
    await deps.audit.append({
      chain: domain, actor: actorOf(credential), action: "access.issue", resource,
      decision: "denied", reason: "permission_denied", requestId, details: { action: request.action },
    });
    throw new CustosError("permission_denied", { detail: "you may not act on this node" });
  }
  await enforceStepUp(deps, { credential, domain, action: "access.issue", resource, requestId });

  // The key first, without storing anything: if the backend cannot unwrap (or wrap) it,
  // nothing was granted and nothing is recorded as granted.
  const prepared = await deps.keys.prepareActiveKey(domain);
  const now = deps.now();
  const expiresAt = now + request.ttlSeconds;
  const jti = randomUUID();
  // Then the record; only once it has committed may a domain's first key be stored.
  await deps.audit.append({
    chain: domain, actor: actorOf(credential), action: "access.issue", resource,
    decision: "granted", reason: "ok", requestId,
    details: { action: request.action, ttl_seconds: request.ttlSeconds, jti, kid: prepared.kid, iat: now, exp: expiresAt },
  });
  const key = await prepared.commit();
  const grant = await new SignJWT({
    act: { sub: credential.subject },
    action: request.action,
    ...(credential.acr === undefined ? {} : { acr: credential.acr }),
    ...(credential.authTime === undefined ? {} : { auth_time: credential.authTime }),
  })
    .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ: "custos-grant+jwt" })
    .setIssuer(grantIssuer(domain))
    .setSubject(credential.subject)
    .setAudience(`node:${request.nodeId}`)
    .setJti(jti)
    .setIssuedAt(now)
    .setExpirationTime(expiresAt)
    .sign(key.privateKey);
  const issued = { grant, expires_at: new Date(expiresAt * 1000).toISOString(), jti };
  await deps.events.grantIssued({ domain, nodeId: request.nodeId, grant: issued, requestId });
  return issued;
}
