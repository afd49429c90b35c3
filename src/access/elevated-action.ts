import type { AuditAppender } from "../audit/audit-port.ts";
import { auditActor, type Actor, type Resource } from "../audit/audit-vocabulary.ts";
import { FOR_PEOPLE, type Authorizer } from "../authz/authorizer.ts";
import { domainRef, userRef } from "../authz/object-ids.ts";
import type { Credential, UserCredential } from "../identity/credentials.ts";
import { CustosError } from "../platform/errors.ts";
import { spanOnlyStages, type Stages } from "../platform/telemetry.ts";
import { evaluateStepUp, stepUpRequired } from "./step-up-gate.ts";
import { resolveRequirement, type ElevatedAction, type StepUpPolicy } from "./step-up-policy.ts";

export interface StepUpGateDependencies {
  readonly policy: StepUpPolicy;
  readonly leewaySeconds: number;
  /** Epoch seconds. */
  readonly now: () => number;
  readonly audit: AuditAppender;
  /** Spans and stage histograms (src/platform/telemetry.ts); spans only when absent. */
  readonly stages?: Stages;
}

export interface AuthorizeElevatedDependencies extends StepUpGateDependencies {
  readonly authorizer: Authorizer;
}

export interface ElevatedActionContext {
  readonly credential: Credential;
  readonly domain: string;
  readonly action: ElevatedAction;
  /** What the action is about, for the audit record: `node:<id>`, `secret:<d>/<name>`. */
  readonly resource: Resource;
  readonly requestId: string;
}

export function actorOf(credential: Credential): Actor {
  switch (credential.kind) {
    case "user":
      return auditActor.user(credential.subject);
    case "node":
      return auditActor.node(credential.nodeId);
    case "operator":
      return auditActor.operator;
  }
}

/**
 * The one step-up gate every elevated action passes (DESIGN.md, "Step-up"). A denial is
 * audited on the domain's chain with its reason before the client hears of it; a browser
 * session is also told where to sign in again with the stronger requirements.
 */
export async function enforceStepUp(deps: StepUpGateDependencies, context: ElevatedActionContext): Promise<void> {
  const requirement = resolveRequirement(deps.policy, context.domain, context.action);
  const decision = evaluateStepUp(requirement, context.credential, deps.now(), deps.leewaySeconds);
  if (decision.allowed) return;
  await deps.audit.append({
    chain: context.domain,
    actor: actorOf(context.credential),
    action: context.action,
    resource: context.resource,
    decision: "denied",
    reason: decision.reason,
    requestId: context.requestId,
    details: { acr_values: [...requirement.acr], max_age: requirement.maxAge },
  });
  const refusal = stepUpRequired(decision);
  if (context.credential.kind !== "user" || context.credential.via !== "session") throw refusal;
  const signIn = new URLSearchParams({ acr_values: requirement.acr.join(" "), max_age: String(requirement.maxAge) });
  throw new CustosError(refusal.code, {
    detail: refusal.detail,
    extensions: { ...refusal.extensions, sign_in_url: `/auth/${context.domain}/login?${signIn.toString()}` },
  });
}

/**
 * The one gate of every elevated action on a domain's own objects: the caller is one of the
 * domain's admins (SpiceDB `administer`, asked at its newest data) and has stepped up for
 * this action. Each refusal is audited on the domain's chain before the client hears of it.
 */
export async function authorizeElevated(deps: AuthorizeElevatedDependencies, context: ElevatedActionContext & { readonly credential: UserCredential }): Promise<void> {
  await (deps.stages ?? spanOnlyStages).run("elevated.authorize", async () => {
    await requireDomainAdmin(deps, context);
    await enforceStepUp(deps, context);
  }, { "custos.action": context.action });
}

async function requireDomainAdmin(deps: AuthorizeElevatedDependencies, context: ElevatedActionContext & { readonly credential: UserCredential }): Promise<void> {
  const { credential, domain } = context;
  if (await deps.authorizer.check({ resource: domainRef(domain), permission: "administer", subject: userRef(credential.subject) }, FOR_PEOPLE)) return;
  await deps.audit.append({
    chain: domain, actor: auditActor.user(credential.subject), action: context.action, resource: context.resource,
    decision: "denied", reason: "permission_denied", requestId: context.requestId,
  });
  throw new CustosError("permission_denied", { detail: "only the domain's admins may do this" });
}
