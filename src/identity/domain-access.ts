import type { AuditAppender } from "../audit/audit-port.ts";
import { auditActor, auditResource, type AuditAction } from "../audit/audit-vocabulary.ts";
import { FOR_PEOPLE, type Authorizer, type Permission } from "../authz/authorizer.ts";
import { domainRef, userRef } from "../authz/object-ids.ts";
import { CustosError } from "../platform/errors.ts";
import type { UserCredential } from "./credentials.ts";
import type { AuthenticateUserDependencies } from "./sessions/authenticate-user.ts";

export interface DomainAccessDependencies extends AuthenticateUserDependencies {
  readonly authorizer: Authorizer;
  readonly audit: AuditAppender;
}

/** What a route asks of the domain's user, and the action a refusal is recorded as. */
export interface DomainPermissionGate {
  readonly action: AuditAction;
  readonly anyOf: readonly Permission[];
}

/** Why a domain user was refused an action on the domain. */
export type DomainAccessReason = "permission_denied";

/**
 * Whether the authenticated user holds one of the gate's permissions on their domain in
 * SpiceDB (`audit` for the domain's auditors, `administer` for its admins). A refusal is
 * audited on the domain's chain before it is thrown (403 permission_denied).
 */
export async function authorizeDomainPermission(
  deps: Pick<DomainAccessDependencies, "authorizer" | "audit">,
  input: { readonly credential: UserCredential; readonly gate: DomainPermissionGate; readonly requestId: string },
): Promise<void> {
  const { credential, gate } = input;
  const answers = await Promise.all(
    gate.anyOf.map((each) => deps.authorizer.check({ resource: domainRef(credential.domain), permission: each, subject: userRef(credential.subject) }, FOR_PEOPLE)),
  );
  if (answers.some(Boolean)) return;
  const reason: DomainAccessReason = "permission_denied";
  await deps.audit.append({
    chain: credential.domain,
    actor: auditActor.user(credential.subject),
    action: gate.action,
    resource: auditResource.domain(credential.domain),
    decision: "denied",
    reason,
    requestId: input.requestId,
  });
  throw new CustosError("permission_denied", { detail: `this action needs the ${gate.anyOf.join(" or ")} permission on the domain` });
}
