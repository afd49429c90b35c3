import type { AuditAppender } from "../../audit/audit-port.ts";
import { auditActor, auditResource } from "../../audit/audit-vocabulary.ts";
import type { DenialRecorder } from "../../audit/denial-recorder.ts";
import { bearerTokenOf, constantTimeEqual } from "../../platform/credentials.ts";
import { CustosError } from "../../platform/errors.ts";
import { PLATFORM_CHAIN } from "../../platform/names.ts";
import type { UserCredential } from "../credentials.ts";
import type { DomainRepository } from "../domains/domain.ts";
import { csrfTokenFor, isWellFormedBrowserSecret, secretDigest } from "./session-secrets.ts";
import type { SessionRepository } from "./session-repo.ts";
import { SignInRefused, type IdTokenVerifier, type SignInRefusalReason } from "./sign-in-provider.ts";

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

/** Why a user's credential was refused; the client hears only `invalid_token` (or `csrf_failed`). */
export type UserAuthenticationReason =
  | "unknown_domain"
  | "malformed_authorization"
  | "no_credential"
  | "malformed_session_cookie"
  | "session_unknown_or_expired"
  | "session_for_another_domain"
  | "csrf_failed"
  | SignInRefusalReason;

/** What authenticateUser needs of a request: plain values, read by the HTTP adapter. */
export interface UserCredentialPresented {
  readonly domainId: string;
  /** The Authorization header, when there is one: it then decides, whatever the cookie says. */
  readonly authorization: string | undefined;
  /** The session cookie's value. */
  readonly sessionCookie: string | undefined;
  /** The X-CSRF-Token header. */
  readonly csrfToken: string | undefined;
  readonly method: string;
  /** The client address (Express's `req.ip`, which honours `trust proxy`). */
  readonly address: string;
  readonly requestId: string;
}

function invalidToken(): CustosError {
  return new CustosError("invalid_token");
}

/**
 * An admin or auditor of `domainId`: `Authorization: Bearer <id_token>` from the domain's
 * provider, or the browser session cookie (with X-CSRF-Token on state-changing requests).
 * Every refusal is audited with its reason; the client learns only `invalid_token`.
 */
export async function authenticateUser(deps: AuthenticateUserDependencies, presented: UserCredentialPresented): Promise<UserCredential> {
  const { domainId, authorization, requestId } = presented;
  const refuse = async (reason: UserAuthenticationReason, chain: string): Promise<never> => {
    await deps.denials.recordUnverified({
      chain, action: "auth.authenticate", resource: auditResource.domain(domainId), reason, requestId, source: presented.address,
    });
    // The provider's keys could not be had: not the token's fault, and not worth a new one.
    if (reason === "jwks_unavailable") {
      throw new CustosError("provider_unavailable", { detail: "the domain's OpenID provider cannot be reached; try again later", retryAfterSeconds: 5 });
    }
    throw invalidToken();
  };

  const domain = await deps.domains.find(domainId);
  if (domain === undefined) return refuse("unknown_domain", PLATFORM_CHAIN);

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

  const secret = presented.sessionCookie;
  if (secret === undefined) return refuse("no_credential", domain.id);
  if (!isWellFormedBrowserSecret(secret)) return refuse("malformed_session_cookie", domain.id);
  const session = await deps.sessions.findActiveSession(secretDigest(secret), deps.now());
  if (session === undefined) return refuse("session_unknown_or_expired", domain.id);
  if (session.domain !== domain.id) return refuse("session_for_another_domain", domain.id);
  if (!SAFE_METHODS.has(presented.method)) {
    const csrf = presented.csrfToken;
    if (csrf === undefined || !constantTimeEqual(csrfTokenFor(secret), csrf)) {
      await deps.audit.append({
        chain: domain.id,
        actor: auditActor.user(session.subject),
        action: "auth.authenticate",
        resource: auditResource.domain(domainId),
        decision: "denied",
        reason: "csrf_failed",
        requestId,
      });
      throw new CustosError("csrf_failed");
    }
  }
  return { kind: "user", via: "session", domain: domain.id, subject: session.subject, acr: session.acr, amr: session.amr, authTime: session.authTime };
}
