import type { AuditAppender } from "../../audit/audit-port.ts";
import { PLATFORM_CHAIN } from "../../platform/names.ts";
import type { DomainMembershipWriter } from "../../authz/domain-membership.ts";
import type { DomainRepository } from "./domain.ts";
import type { DomainInput } from "./parse-domain-input.ts";
import { auditResource, type Actor } from "../../audit/audit-vocabulary.ts";

export interface PutDomainDependencies {
  readonly domains: DomainRepository;
  readonly members: DomainMembershipWriter;
  readonly audit: AuditAppender;
}

export interface PutDomainContext {
  readonly actor: Actor;
  readonly requestId: string;
}

/**
 * Records a domain's provider, admins and auditors. The audit record is committed first:
 * if it cannot be, nothing changes (fail closed). SpiceDB holds the authoritative
 * membership and is diffed against itself, so retrying a PUT that failed halfway converges.
 */
export async function putDomain(deps: PutDomainDependencies, id: string, input: DomainInput, context: PutDomainContext): Promise<{ created: boolean }> {
  const previous = await deps.domains.find(id);
  await deps.audit.append({
    chain: PLATFORM_CHAIN,
    actor: context.actor,
    action: "domain.put",
    resource: auditResource.domain(id),
    decision: "granted",
    reason: "ok",
    requestId: context.requestId,
    details: { issuer: input.issuer, client_id: input.clientId, admins: input.admins.length, auditors: input.auditors.length, replaced: previous !== undefined },
  });
  await deps.members.replaceMembers(id, { admins: input.admins, auditors: input.auditors });
  const created = await deps.domains.upsert({ id, issuer: input.issuer, clientId: input.clientId, admins: input.admins, auditors: input.auditors });
  return { created };
}
