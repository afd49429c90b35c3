import { createHash, timingSafeEqual } from "node:crypto";
import type { Request, RequestHandler } from "express";
import type { AuditAppender } from "../../audit/audit-port.ts";
import { sourceAddressOf, type DenialRecorder } from "../../audit/denial-summariser.ts";
import { bearerTokenOf } from "../../http/authorization.ts";
import { clientRequestIdOf, requestIdOf } from "../../http/request-id.ts";
import { routeTemplateOf } from "../../http/routes.ts";
import { CustosError } from "../../platform/errors.ts";
import { PLATFORM_CHAIN } from "../../platform/names.ts";
import { setCredential } from "../credential-locals.ts";
import { auditActor, auditResource } from "../../audit/audit-vocabulary.ts";

export interface OperatorTokenDependencies {
  /** CUSTOS_OPERATOR_TOKEN; undefined when the platform has not been provisioned with one. */
  readonly operatorToken: string | undefined;
  readonly audit: AuditAppender;
  /** Refusals: summarised per source, never one row per request. */
  readonly denials: DenialRecorder;
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/**
 * Compares SHA-256 digests, in constant time: equal-length inputs for timingSafeEqual
 * whatever was presented, and nothing about the token's length leaks through timing.
 */
export function operatorTokenMatches(expectedDigest: Buffer, presented: string): boolean {
  return timingSafeEqual(expectedDigest, digest(presented));
}

/** The bearer token of the request; the scheme is case-insensitive (RFC 6750, RFC 7235). */
export function bearerOf(req: Request): string | undefined {
  return bearerTokenOf(req.get("authorization"));
}

/**
 * Authenticates the platform operator. Every accepted use is one audit record on the platform
 * chain, committed before the request goes on (fail closed); refusals go through the denial
 * recorder, which summarises a flood from one source into a counted record.
 */
export function requireOperator(deps: OperatorTokenDependencies): RequestHandler {
  const expectedDigest = deps.operatorToken === undefined ? undefined : digest(deps.operatorToken);
  return async (req, res, next) => {
    if (expectedDigest === undefined) {
      throw new CustosError("not_provisioned", { detail: "this instance has no CUSTOS_OPERATOR_TOKEN; platform calls are disabled" });
    }
    const presented = bearerOf(req);
    const clientRequestId = clientRequestIdOf(res);
    const matches = presented !== undefined && operatorTokenMatches(expectedDigest, presented);
    const reason = matches ? "ok" : presented === undefined ? "credential_missing" : "operator_token_mismatch";
    // The route template, not the raw path: the record holds no client-chosen text.
    const resource = auditResource.route(req.method, routeTemplateOf(req));
    if (matches) {
      await deps.audit.append({
        chain: PLATFORM_CHAIN, actor: auditActor.operator, action: "operator.authenticate", resource, decision: "granted", reason,
        requestId: requestIdOf(res), details: clientRequestId === undefined ? {} : { client_request_id: clientRequestId },
      });
    } else {
      await deps.denials.recordUnverified({ chain: PLATFORM_CHAIN, action: "operator.authenticate", resource, reason, requestId: requestIdOf(res), source: sourceAddressOf(req) });
    }
    if (!matches) {
      throw new CustosError("invalid_token", { detail: "the operator token is missing or wrong" });
    }
    setCredential(res, { kind: "operator" });
    next();
  };
}
