import type { Request, Response } from "express";
import type { AuditAppender } from "../../audit/audit-port.ts";
import { auditActor, auditResource } from "../../audit/audit-vocabulary.ts";
import { sourceAddressOf, type DenialRecorder } from "../../audit/denial-summariser.ts";
import { bearerTokenOf } from "../../http/authorization.ts";
import { readCookie, SESSION_COOKIE } from "../../http/cookies.ts";
import { requestIdOf } from "../../http/request-id.ts";
import { CustosError } from "../../platform/errors.ts";
import { PLATFORM_CHAIN } from "../../platform/names.ts";
import type { UserCredential } from "../admin-credential.ts";
import type { DomainRepository } from "../domains/domain.ts";
import { constantTimeEqual, csrfTokenFor, isWellFormedBrowserSecret, secretDigest } from "./session-secrets.ts";
import type { SessionRepository } from "./session-repo.ts";
import { SignInRefused, type IdTokenVerifier } from "./sign-in-provider.ts";

export { SESSION_COOKIE } from "../../http/cookies.ts";

export interface AuthenticateUserDependencies {
  readonly domains: DomainRepository;
  readonly sessions: SessionRepository;
  readonly idTokens: IdTokenVerifier;
  readonly audit: AuditAppender;
  /** Refusals without a verified identity: summarised per source, never one row per request. */
  readonly denials: DenialRecorder;
  readonly now: () => number;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function invalidToken(): CustosError {
  return new CustosError("invalid_token");
}

/**
 * An admin or auditor of `domainId`: `Authorization: Bearer <id_token>` from the domain's
 * provider, or the browser session cookie (with X-CSRF-Token on state-changing requests).
 * Every refusal is audited with its reason; the client learns only `invalid_token`.
 */
export async function authenticateUser(deps: AuthenticateUserDependencies, req: Request, res: Response, domainId: string): Promise<UserCredential> {
  const refuse = async (reason: string, chain: string): Promise<never> => {
    await deps.denials.recordUnverified({
      chain, action: "auth.authenticate", resource: auditResource.domain(domainId), reason, requestId: requestIdOf(res), source: sourceAddressOf(req),
    });
    // The provider's keys could not be had: not the token's fault, and not worth a new one.
    if (reason === "jwks_unavailable") {
      throw new CustosError("provider_unavailable", { detail: "the domain's OpenID provider cannot be reached; try again later", retryAfterSeconds: 5 });
    }
    throw invalidToken();
  };

  const domain = await deps.domains.find(domainId);
  if (domain === undefined) return refuse("unknown_domain", PLATFORM_CHAIN);

  const authorization = req.get("authorization");
  if (authorization !== undefined) {
    const token = bearerTokenOf(authorization);
    if (token === undefined || !JWT_SHAPE.test(token)) return refuse("malformed_authorization", domain.id);
    try {
      const verified = await deps.idTokens.verify(domain, token);
      return { kind: "user", via: "id_token", domain: domain.id, subject: verified.subject, acr: verified.acr, amr: verified.amr, authTime: verified.authTime };
    } catch (error) {
      if (error instanceof SignInRefused) return refuse(error.reason, domain.id);
      throw error;
    }
  }

  const secret = readCookie(req, SESSION_COOKIE);
  if (secret === undefined) return refuse("no_credential", domain.id);
  if (!isWellFormedBrowserSecret(secret)) return refuse("malformed_session_cookie", domain.id);
  const session = await deps.sessions.findActiveSession(secretDigest(secret), deps.now());
  if (session === undefined) return refuse("session_unknown_or_expired", domain.id);
  if (session.domain !== domain.id) return refuse("session_for_another_domain", domain.id);
  if (!SAFE_METHODS.has(req.method)) {
    const csrf = req.get("x-csrf-token");
    if (csrf === undefined || !constantTimeEqual(csrf, csrfTokenFor(secret))) {
      await deps.audit.append({
        chain: domain.id,
        actor: auditActor.user(session.subject),
        action: "auth.authenticate",
        resource: auditResource.domain(domainId),
        decision: "denied",
        reason: "csrf_failed",
        requestId: requestIdOf(res),
      });
      throw new CustosError("csrf_failed");
    }
  }
  return { kind: "user", via: "session", domain: domain.id, subject: session.subject, acr: session.acr, amr: session.amr, authTime: session.authTime };
}
