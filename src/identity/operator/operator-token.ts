import type { AuditAppender } from "../../audit/audit-port.ts";
import { auditActor, auditResource } from "../../audit/audit-vocabulary.ts";
import type { DenialRecorder } from "../../audit/denial-recorder.ts";
import { bearerTokenOf, constantTimeEqual } from "../../platform/credentials.ts";
import { CustosError } from "../../platform/errors.ts";
import { PLATFORM_CHAIN } from "../../platform/names.ts";
import type { OperatorCredential } from "../credentials.ts";

export interface OperatorTokenDependencies {
  /** CUSTOS_OPERATOR_TOKEN; undefined when the platform has not been provisioned with one. */
  readonly operatorToken: string | undefined;
  readonly audit: AuditAppender;
  /** Refusals: summarised per source, never one row per request. */
  readonly denials: DenialRecorder;
}

/** Why an operator call was refused (or `ok`); the client hears only `invalid_token`. */
export type OperatorAuthenticationReason = "ok" | "credential_missing" | "operator_token_mismatch";

/** What authenticateOperator needs of a request: plain values, read by the HTTP adapter. */
export interface OperatorCredentialPresented {
  /** The Authorization header. */
  readonly authorization: string | undefined;
  readonly method: string;
  /** The route template that matched, never the raw path: the record holds no client-chosen text. */
  readonly route: string;
  readonly address: string;
  readonly requestId: string;
  /** The caller's own X-Request-Id, kept in the record for correlation only. */
  readonly clientRequestId: string | undefined;
}

/**
 * Authenticates the platform operator. Every accepted use is one audit record on the platform
 * chain, committed before the request goes on (fail closed); refusals go through the denial
 * recorder, which summarises a flood from one source into a counted record.
 */
export async function authenticateOperator(deps: OperatorTokenDependencies, presented: OperatorCredentialPresented): Promise<OperatorCredential> {
  if (deps.operatorToken === undefined) {
    throw new CustosError("not_provisioned", { detail: "this instance has no CUSTOS_OPERATOR_TOKEN; platform calls are disabled" });
  }
  const token = bearerTokenOf(presented.authorization);
  const matches = token !== undefined && constantTimeEqual(deps.operatorToken, token);
  const reason: OperatorAuthenticationReason = matches ? "ok" : token === undefined ? "credential_missing" : "operator_token_mismatch";
  const resource = auditResource.route(presented.method, presented.route);
  if (!matches) {
    await deps.denials.recordUnverified({ chain: PLATFORM_CHAIN, action: "operator.authenticate", resource, reason, requestId: presented.requestId, source: presented.address });
    throw new CustosError("invalid_token", { detail: "the operator token is missing or wrong" });
  }
  await deps.audit.append({
    chain: PLATFORM_CHAIN, actor: auditActor.operator, action: "operator.authenticate", resource, decision: "granted", reason,
    requestId: presented.requestId, details: presented.clientRequestId === undefined ? {} : { client_request_id: presented.clientRequestId },
  });
  return { kind: "operator" };
}
