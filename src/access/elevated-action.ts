import type { AuditAppender } from "../audit/audit-port.ts";
import { CustosError } from "../platform/errors.ts";
import type { Credential } from "../identity/admin-credential.ts";
import { evaluateStepUp, stepUpRequired } from "./step-up-gate.ts";
import { resolveRequirement, type ElevatedAction, type StepUpPolicy } from "./step-up-policy.ts";

export interface StepUpGateDependencies {
  readonly policy: StepUpPolicy;
  readonly leewaySeconds: number;
  /** Epoch seconds. */
  readonly now: () => number;
  readonly audit: AuditAppender;
}

export interface ElevatedActionContext {
  readonly credential: Credential;
  readonly domain: string;
  readonly action: ElevatedAction;
  /** What the action is about, for the audit record: `node:<id>`, `secret:<d>/<name>`. */
  readonly resource: string;
  readonly requestId: string;
}

export function actorOf(credential: Credential): string {
  switch (credential.kind) {
    case "user":
      return `user:${credential.subject}`;
    case "node":
      return `node:${credential.nodeId}`;
    case "operator":
      return "operator";
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
    headers: refusal.headers,
    extensions: { ...refusal.extensions, sign_in_url: `/auth/${context.domain}/login?${signIn.toString()}` },
  });
}
