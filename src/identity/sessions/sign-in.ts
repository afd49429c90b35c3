import type { AuditAppender } from "../../audit/audit-port.ts";
import { auditActor, auditResource } from "../../audit/audit-vocabulary.ts";
import type { DenialRecorder } from "../../audit/denial-recorder.ts";
import type { SignedInPerson } from "../../http/landing-page.ts";
import { constantTimeEqual } from "../../platform/credentials.ts";
import { CustosError } from "../../platform/errors.ts";
import { domainSubject, type Domain, type DomainRepository } from "../domains/domain.ts";
import { csrfTokenFor, isWellFormedBrowserSecret, loginAttemptParameters, newBrowserSecret, secretDigest } from "./session-secrets.ts";
import type { AdminSession, SessionRepository } from "./session-repo.ts";
import { loginSourceOf, publicBaseUrl, type RequestOrigin } from "./sign-in-origin.ts";
import { SignInRefused, type AuthorizationRequest, type SignInProvider, type SignInRefusalReason } from "./sign-in-provider.ts";

/**
 * The browser sign-in's verbs: begin (to the provider), complete (back from it, a session),
 * read the session, sign out, and who is signed in for the start page. Plain inputs and
 * results; cookies, redirects and pages are the routes' business (sign-in.routes.ts).
 */

export const LOGIN_TTL_SECONDS = 600;
export const SESSION_TTL_SECONDS = 8 * 3600;
/**
 * Pending logins one source (IPv4 address, IPv6 /64) may hold; a new one evicts its oldest.
 * Anyone may start a login without credentials, so this is what bounds the table. Evicting
 * rather than refusing means a person is never locked out of signing in by others behind the
 * same address; at worst an older tab's login must be started again.
 */
export const MAX_PENDING_LOGINS_PER_SOURCE = 16;
/** Expired rows deleted on the way by each login or sign-in (the rest by the scheduled purge). */
const OPPORTUNISTIC_PURGE_BATCH = 32;

export interface SignInDependencies {
  readonly domains: DomainRepository;
  readonly sessions: SessionRepository;
  readonly provider: SignInProvider;
  readonly audit: AuditAppender;
  /** Refused sign-ins carry no verified identity: summarised per source. */
  readonly denials: DenialRecorder;
  /** Epoch seconds. */
  readonly now: () => number;
  /**
   * The URL browsers reach Custos at (CUSTOS_PUBLIC_URL). Unset, it is derived from the request
   * on loopback only, and sign-in is refused (not_provisioned) anywhere else.
   */
  readonly publicUrl: string | undefined;
}

/** Why a browser sign-in was refused; the browser hears only that it must start again. */
export type SignInCompletionReason = "no_login_in_progress" | "login_attempt_unknown_or_expired" | "provider_error" | SignInRefusalReason;

function invalid(detail: string): CustosError {
  return new CustosError("invalid_request", { detail });
}

/** Only a path on this site: an open redirect would hand a fresh session to a phishing page. */
export function parseReturnTo(value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !value.startsWith("/") || value.startsWith("//") || value.includes("\\") || value.length > 1024) {
    throw invalid("return_to must be a path on this site");
  }
  return value;
}

export function parseAcrValues(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !/^[\x21\x23-\x5b\x5d-\x7e]{1,255}( [\x21\x23-\x5b\x5d-\x7e]{1,255}){0,9}$/.test(value)) {
    throw invalid("acr_values must be up to ten space-separated values");
  }
  return value;
}

export function parseMaxAge(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !/^\d{1,6}$/.test(value) || Number(value) > 86_400) {
    throw invalid("max_age must be a whole number of seconds, at most 86400");
  }
  return Number(value);
}

/** The redirect_uri for a domain; refuses (not_provisioned) where the request cannot be believed. */
export function callbackUri(deps: Pick<SignInDependencies, "publicUrl">, origin: RequestOrigin, domain: string): string {
  return `${publicBaseUrl(deps.publicUrl, origin)}/auth/${domain}/callback`;
}

function authorizationRequest(redirectUri: string, secret: string, acrValues: string | undefined, maxAge: number | undefined): AuthorizationRequest {
  return { redirectUri, ...loginAttemptParameters(secret), acrValues, maxAge };
}

/**
 * A plain 404 for a domain with no row, before anything is read, stored or audited: a chain
 * exists only once its domain does, so no request can create (or pre-fill) a future tenant's.
 */
export async function findSignInDomain(deps: Pick<SignInDependencies, "domains">, id: string): Promise<Domain> {
  const domain = await deps.domains.find(id);
  if (domain === undefined) throw new CustosError("not_found", { detail: "no such domain" });
  return domain;
}

function providerUnavailable(cause: unknown): CustosError {
  return new CustosError("provider_unavailable", { detail: "the domain's OpenID provider cannot be reached; try again later", cause });
}

export interface BeginSignInInput {
  readonly domainId: string;
  /** The query's return_to, acr_values and max_age, as the client sent them. */
  readonly returnTo: unknown;
  readonly acrValues: unknown;
  readonly maxAge: unknown;
  readonly origin: RequestOrigin;
  /** The client address, for the per-source bound on pending logins. */
  readonly address: string | undefined;
}

export interface SignInBegun {
  /** The login attempt's secret, for the browser's login cookie; only its digest is stored. */
  readonly loginSecret: string;
  /** Where to send the browser: the provider's authorization endpoint. */
  readonly providerUrl: string;
}

/** Starts a code-flow sign-in with PKCE; the attempt is stored only once the provider answered. */
export async function beginSignIn(deps: SignInDependencies, input: BeginSignInInput): Promise<SignInBegun> {
  const domain = await findSignInDomain(deps, input.domainId);
  // After sign-in a person lands on the start page, which says who they are and what next.
  // Without a return path, a person lands on the console.
  const returnTo = parseReturnTo(input.returnTo, "/console/");
  const acrValues = parseAcrValues(input.acrValues);
  const maxAge = parseMaxAge(input.maxAge);
  const redirectUri = callbackUri(deps, input.origin, domain.id);
  const secret = newBrowserSecret();
  let url: string;
  try {
    // Someone who opens the login URL wants to choose who signs in, not to be sent back
    // silently as whoever the provider's session remembers.
    url = await deps.provider.authorizationUrl(domain, { ...authorizationRequest(redirectUri, secret, acrValues, maxAge), prompt: "login" });
  } catch (error) {
    if (!(error instanceof SignInRefused)) throw error;
    throw providerUnavailable(error);
  }
  // Stored only once the provider answered: a provider that is down leaves no rows.
  const now = deps.now();
  await deps.sessions.saveLoginAttempt(secretDigest(secret), { domain: domain.id, returnTo, acrValues, maxAge }, now + LOGIN_TTL_SECONDS, {
    source: loginSourceOf(input.address),
    maxPerSource: MAX_PENDING_LOGINS_PER_SOURCE,
    now,
    purgeBatch: OPPORTUNISTIC_PURGE_BATCH,
  });
  return { loginSecret: secret, providerUrl: url };
}

export interface CompleteSignInInput {
  readonly domain: Domain;
  readonly redirectUri: string;
  /** The login cookie's value. */
  readonly loginSecret: string | undefined;
  /** Whether the provider sent back an `error` parameter. */
  readonly providerError: boolean;
  /** The callback URL as requested (path and query), resolved against redirectUri. */
  readonly callbackPath: string;
  /** The session cookie the browser held before, if any: its session is ended. */
  readonly replacedSessionSecret: string | undefined;
  readonly address: string;
  readonly requestId: string;
}

export interface SignInCompleted {
  /** The new session's secret, for the session cookie; only its digest is stored. */
  readonly sessionSecret: string;
  readonly returnTo: string;
}

/**
 * Completes a sign-in: the attempt is taken (single use), the provider's code exchanged and
 * its id_token verified; the session is audited before the browser holds anything, and the
 * session it replaces ends. Every refusal is recorded (summarised per source).
 */
export async function completeSignIn(deps: SignInDependencies, input: CompleteSignInInput): Promise<SignInCompleted> {
  const { domain, requestId } = input;
  const domainId = domain.id;
  // Only ever called for a domain that exists: the callback answers an unknown one 404 first,
  // so no refusal can open (or pre-fill) a chain for a domain with no row.
  const refuse = async (reason: SignInCompletionReason, refusal?: CustosError): Promise<never> => {
    await deps.denials.recordUnverified({
      chain: domainId, action: "session.create", resource: auditResource.domain(domainId), reason, requestId, source: input.address,
    });
    throw refusal ?? new CustosError("invalid_token", { detail: "the sign-in could not be completed; start again" });
  };
  const secret = input.loginSecret;
  if (!isWellFormedBrowserSecret(secret)) return refuse("no_login_in_progress");
  const attempt = await deps.sessions.takeLoginAttempt(secretDigest(secret), deps.now());
  if (attempt?.domain !== domainId) return refuse("login_attempt_unknown_or_expired");
  if (input.providerError) return refuse("provider_error");
  const callbackUrl = new URL(input.callbackPath, input.redirectUri);
  let signedIn;
  try {
    signedIn = await deps.provider.completeSignIn(domain, callbackUrl, authorizationRequest(input.redirectUri, secret, attempt.acrValues, attempt.maxAge));
  } catch (error) {
    if (!(error instanceof SignInRefused)) throw error;
    // The provider being down is not the browser's fault: 503 as for the login itself.
    return refuse(error.reason, error.reason === "discovery_failed" ? providerUnavailable(error) : undefined);
  }
  const sessionSecret = newBrowserSecret();
  const expiresAt = deps.now() + SESSION_TTL_SECONDS;
  // Audited before the browser holds anything: no record, no session.
  await deps.audit.append({
    chain: domainId,
    actor: auditActor.user(signedIn.subject),
    action: "session.create",
    resource: auditResource.domain(domainId),
    decision: "granted",
    reason: "ok",
    requestId,
    details: { acr: signedIn.acr ?? null, amr: signedIn.amr, auth_time: signedIn.authTime ?? null },
  });
  await deps.sessions.saveSession(secretDigest(sessionSecret), { domain: domainId, subject: signedIn.subject, acr: signedIn.acr, amr: signedIn.amr, authTime: signedIn.authTime, expiresAt });
  // A step-up (or any new sign-in) replaces the browser's cookie; the session it held must
  // not live on where a copy of the old cookie could still use it.
  if (isWellFormedBrowserSecret(input.replacedSessionSecret)) await endReplacedSession(deps, input.replacedSessionSecret, requestId);
  await deps.sessions.purgeExpired(deps.now(), OPPORTUNISTIC_PURGE_BATCH);
  return { sessionSecret, returnTo: attempt.returnTo };
}

/**
 * Ends the session a new sign-in replaces, then records it. One of the two changes made before
 * their record (docs/design.md, "Audit first, for every change"): it only removes access, and
 * an audit store that cannot answer must never keep a session alive.
 */
async function endReplacedSession(deps: SignInDependencies, replacedSecret: string, requestId: string): Promise<void> {
  const ended = await deps.sessions.deleteSession(secretDigest(replacedSecret), deps.now());
  if (ended === undefined) return;
  await deps.audit.append({
    chain: ended.domain,
    actor: auditActor.user(ended.subject),
    action: "session.end",
    resource: auditResource.domain(ended.domain),
    decision: "recorded",
    reason: "replaced",
    requestId,
  });
}

/** The signed-in session as GET /auth/session answers it, with the CSRF token. */
export interface SessionView {
  readonly domain: string;
  readonly subject: string;
  readonly acr: string | null;
  readonly amr: readonly string[];
  readonly auth_time: number | null;
  readonly authenticated_at: string | null;
  readonly expires_at: string;
  readonly csrf_token: string;
}

/** The active session of a session cookie, or undefined: not signed in. */
export async function readSession(deps: Pick<SignInDependencies, "sessions" | "now">, sessionSecret: string | undefined): Promise<SessionView | undefined> {
  if (!isWellFormedBrowserSecret(sessionSecret)) return undefined;
  const session = await deps.sessions.findActiveSession(secretDigest(sessionSecret), deps.now());
  if (session === undefined) return undefined;
  return sessionView(session, sessionSecret);
}

function sessionView(session: AdminSession, secret: string): SessionView {
  return {
    domain: session.domain,
    subject: session.subject,
    acr: session.acr ?? null,
    amr: session.amr,
    auth_time: session.authTime ?? null,
    // The same instant as auth_time (epoch seconds, as in the id_token), in the form of expires_at.
    authenticated_at: session.authTime === undefined ? null : new Date(session.authTime * 1000).toISOString(),
    expires_at: new Date(session.expiresAt * 1000).toISOString(),
    csrf_token: csrfTokenFor(secret),
  };
}

/** Who is signed in, or undefined: a missing or stale cookie is simply "not signed in". */
export async function signedInPerson(deps: Pick<SignInDependencies, "sessions" | "domains" | "now">, sessionSecret: string | undefined): Promise<SignedInPerson | undefined> {
  if (!isWellFormedBrowserSecret(sessionSecret)) return undefined;
  const session = await deps.sessions.findActiveSession(secretDigest(sessionSecret), deps.now());
  if (session === undefined) return undefined;
  const domain = await deps.domains.find(session.domain);
  const prefix = domainSubject(session.domain, "");
  const sub = session.subject.startsWith(prefix) ? session.subject.slice(prefix.length) : session.subject;
  return {
    domain: session.domain,
    sub,
    acr: session.acr,
    amr: session.amr,
    authTime: session.authTime,
    expiresAt: session.expiresAt,
    admin: domain?.admins.includes(sub) === true,
    auditor: domain?.auditors.includes(sub) === true,
  };
}

export interface SignOutInput {
  readonly sessionSecret: string | undefined;
  readonly csrfToken: string | undefined;
  readonly requestId: string;
}

/**
 * Ends the session, then records it, and says where the browser may end the provider's too.
 * No session, or a stale one, is nothing to end; a live one needs its CSRF token.
 */
export async function signOut(deps: SignInDependencies, input: SignOutInput): Promise<{ readonly endSessionUrl: string | undefined }> {
  const secret = input.sessionSecret;
  if (!isWellFormedBrowserSecret(secret)) return { endSessionUrl: undefined };
  const session = await deps.sessions.findActiveSession(secretDigest(secret), deps.now());
  if (session === undefined) return { endSessionUrl: undefined };
  if (input.csrfToken === undefined || !constantTimeEqual(csrfTokenFor(secret), input.csrfToken)) throw new CustosError("csrf_failed");
  // Access is removed before the record (the exception in docs/design.md): an audit store
  // that cannot answer must never keep a session alive.
  await deps.sessions.endSession(secretDigest(secret), deps.now());
  await deps.audit.append({
    chain: session.domain,
    actor: auditActor.user(session.subject),
    action: "session.end",
    resource: auditResource.domain(session.domain),
    decision: "recorded",
    reason: "ok",
    requestId: input.requestId,
  });
  return { endSessionUrl: await providerEndSessionUrl(deps, session.domain) };
}

/**
 * Ending Custos's session is not enough: the provider's would sign the next visitor straight
 * back in. Its end_session_endpoint is for the browser to open. A provider that cannot be
 * reached does not stop the local sign-out, which has already happened.
 */
async function providerEndSessionUrl(deps: SignInDependencies, domainId: string): Promise<string | undefined> {
  const domain = await deps.domains.find(domainId);
  if (domain === undefined) return undefined;
  try {
    return await deps.provider.endSessionUrl(domain);
  } catch (error) {
    if (error instanceof SignInRefused) return undefined;
    throw error;
  }
}
