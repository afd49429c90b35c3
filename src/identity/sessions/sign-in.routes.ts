import type { Request, Response } from "express";
import type { AuditAppender } from "../../audit/audit-port.ts";
import { auditActor, auditResource } from "../../audit/audit-vocabulary.ts";
import { sourceAddressOf, type DenialRecorder } from "../../audit/denial-summariser.ts";
import { clearCookie, readCookie, SESSION_COOKIE, setCookie } from "../../http/cookies.ts";
import { requestIdOf } from "../../http/request-id.ts";
import { isBrowserNavigation, sendHtml, sendStylesheet, STYLESHEET_PATH } from "../../http/html.ts";
import { renderLandingPage, type SignedInPerson } from "../../http/landing-page.ts";
import { PROBLEM_RESPONSE } from "../../http/openapi.ts";
import type { RouteDefinition } from "../../http/routes.ts";
import { CustosError } from "../../platform/errors.ts";
import { isDomainId, parseDomainId } from "../../platform/names.ts";
import { domainSubject, type DomainRepository } from "../domains/domain.ts";
import { constantTimeEqual } from "../../platform/credentials.ts";
import { csrfTokenFor, isWellFormedBrowserSecret, loginAttemptParameters, newBrowserSecret, secretDigest } from "./session-secrets.ts";
import type { SessionRepository } from "./session-repo.ts";
import { loginSourceOf, publicBaseUrl } from "./sign-in-origin.ts";
import { SignInRefused, type AuthorizationRequest, type SignInProvider } from "./sign-in-provider.ts";

export const LOGIN_COOKIE = "custos_login";
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
function callbackUri(deps: SignInDependencies, req: Request, domain: string): string {
  const base = publicBaseUrl(deps.publicUrl, { protocol: req.protocol, host: req.get("host"), localAddress: req.socket.localAddress });
  return `${base}/auth/${domain}/callback`;
}

function authorizationRequest(redirectUri: string, secret: string, acrValues: string | undefined, maxAge: number | undefined): AuthorizationRequest {
  return { redirectUri, ...loginAttemptParameters(secret), acrValues, maxAge };
}

/**
 * A plain 404 for a domain with no row, before anything is read, stored or audited: a chain
 * exists only once its domain does, so no request can create (or pre-fill) a future tenant's.
 */
async function findDomain(deps: SignInDependencies, id: string) {
  const domain = await deps.domains.find(id);
  if (domain === undefined) throw new CustosError("not_found", { detail: "no such domain" });
  return domain;
}

function providerUnavailable(cause: unknown): CustosError {
  return new CustosError("provider_unavailable", { detail: "the domain's OpenID provider cannot be reached; try again later", cause });
}

export function signInRoutes(deps: SignInDependencies): RouteDefinition[] {
  // Behind a TLS-terminating proxy this hop is plain HTTP; the public URL says what browsers see.
  const secure = deps.publicUrl?.startsWith("https://") === true;
  // Only ever called for a domain that exists: the callback answers an unknown one 404 first,
  // so no refusal can open (or pre-fill) a chain for a domain with no row.
  const refuseSignIn = async (res: Response, domain: string, reason: string, refusal?: CustosError): Promise<never> => {
    await deps.denials.recordUnverified({
      chain: domain, action: "session.create", resource: auditResource.domain(domain), reason, requestId: requestIdOf(res), source: sourceAddressOf(res.req),
    });
    throw refusal ?? new CustosError("invalid_token", { detail: "the sign-in could not be completed; start again" });
  };

  /**
   * Ending Custos's session is not enough: the provider's would sign the next visitor straight
   * back in. Its end_session_endpoint is for the browser to open. A provider that cannot be
   * reached does not stop the local sign-out, which has already happened.
   */
  const providerEndSessionUrl = async (domainId: string): Promise<string | undefined> => {
    const domain = await deps.domains.find(domainId);
    if (domain === undefined) return undefined;
    try {
      return await deps.provider.endSessionUrl(domain);
    } catch (error) {
      if (error instanceof SignInRefused) return undefined;
      throw error;
    }
  };

  const endReplacedSession = async (res: Response, replacedSecret: string): Promise<void> => {
    const ended = await deps.sessions.deleteSession(secretDigest(replacedSecret), deps.now());
    if (ended === undefined) return;
    await deps.audit.append({
      chain: ended.domain,
      actor: auditActor.user(ended.subject),
      action: "session.end",
      resource: auditResource.domain(ended.domain),
      decision: "recorded",
      reason: "replaced",
      requestId: requestIdOf(res),
    });
  };

  /** The signed-in person for the start page, or undefined: a missing or stale cookie is simply "not signed in". */
  const personOf = async (req: Request): Promise<SignedInPerson | undefined> => {
    const secret = readCookie(req, SESSION_COOKIE);
    if (!isWellFormedBrowserSecret(secret)) return undefined;
    const session = await deps.sessions.findActiveSession(secretDigest(secret), deps.now());
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
  };

  return [
    {
      method: "get",
      path: "/",
      doc: {
        summary: "The start page, for browsers (Accept: text/html): who is signed in and what they can do next; the landing page after sign-in",
        responses: { "200": { description: "HTML" }, "404": PROBLEM_RESPONSE },
      },
      handlers: [
        async (req, res) => {
          // API clients keep the answer they always had: there is no resource here.
          if (!isBrowserNavigation(req)) throw new CustosError("not_found");
          sendHtml(res, 200, renderLandingPage({ person: await personOf(req) }));
        },
      ],
    },
    {
      method: "get",
      path: "/sign-in",
      doc: {
        summary: "The start page's sign-in form: redirects to /auth/{domain}/login",
        parameters: [{ name: "domain", in: "query", required: true, schema: { type: "string" } }],
        responses: { "303": { description: "to /auth/{domain}/login" }, "400": PROBLEM_RESPONSE },
      },
      handlers: [
        (req, res) => {
          const domain = typeof req.query.domain === "string" ? req.query.domain.trim().toLowerCase() : "";
          if (!isDomainId(domain)) throw invalid("domain must be a domain id (a-z, 0-9, '-', up to 63 characters)");
          res.redirect(303, `/auth/${domain}/login`);
        },
      ],
    },
    {
      method: "get",
      path: STYLESHEET_PATH,
      doc: { summary: "The stylesheet of the start page", responses: { "200": { description: "text/css" } } },
      handlers: [(_req, res) => { sendStylesheet(res); }],
    },
    {
      method: "get",
      path: "/auth/:domain/login",
      doc: {
        summary: "Start a browser sign-in with the domain's OpenID provider (code flow with PKCE)",
        parameters: [
          { name: "return_to", in: "query", schema: { type: "string" } },
          { name: "acr_values", in: "query", schema: { type: "string" } },
          { name: "max_age", in: "query", schema: { type: "integer" } },
        ],
        responses: { "303": { description: "to the provider" }, "404": PROBLEM_RESPONSE, "501": PROBLEM_RESPONSE, "503": PROBLEM_RESPONSE },
      },
      handlers: [
        async (req, res) => {
          const domain = await findDomain(deps, parseDomainId(req.params.domain));
          // After sign-in a person lands on the start page, which says who they are and what next.
          const returnTo = parseReturnTo(req.query.return_to, "/");
          const acrValues = parseAcrValues(req.query.acr_values);
          const maxAge = parseMaxAge(req.query.max_age);
          const redirectUri = callbackUri(deps, req, domain.id);
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
            source: loginSourceOf(req.ip ?? req.socket.remoteAddress),
            maxPerSource: MAX_PENDING_LOGINS_PER_SOURCE,
            now,
            purgeBatch: OPPORTUNISTIC_PURGE_BATCH,
          });
          // Lax, not Strict: the provider sends the browser back with a cross-site top-level GET.
          setCookie(req, res, LOGIN_COOKIE, secret, { path: "/auth/", maxAgeSeconds: LOGIN_TTL_SECONDS, sameSite: "Lax", secure });
          res.redirect(303, url);
        },
      ],
    },
    {
      method: "get",
      path: "/auth/:domain/callback",
      doc: {
        summary: "The provider's redirect back; creates the session and ends the one it replaces",
        responses: { "303": { description: "to return_to, signed in" }, "401": PROBLEM_RESPONSE, "404": PROBLEM_RESPONSE, "501": PROBLEM_RESPONSE, "503": PROBLEM_RESPONSE },
      },
      handlers: [
        async (req, res) => {
          const domain = await findDomain(deps, parseDomainId(req.params.domain));
          const domainId = domain.id;
          const redirectUri = callbackUri(deps, req, domainId);
          const secret = readCookie(req, LOGIN_COOKIE);
          clearCookie(req, res, LOGIN_COOKIE, "/auth/", secure);
          if (!isWellFormedBrowserSecret(secret)) return refuseSignIn(res, domainId, "no_login_in_progress");
          const attempt = await deps.sessions.takeLoginAttempt(secretDigest(secret), deps.now());
          if (attempt?.domain !== domainId) return refuseSignIn(res, domainId, "login_attempt_unknown_or_expired");
          if (typeof req.query.error === "string") return refuseSignIn(res, domainId, "provider_error");
          const callbackUrl = new URL(req.originalUrl, redirectUri);
          let signedIn;
          try {
            signedIn = await deps.provider.completeSignIn(domain, callbackUrl, authorizationRequest(redirectUri, secret, attempt.acrValues, attempt.maxAge));
          } catch (error) {
            if (!(error instanceof SignInRefused)) throw error;
            // The provider being down is not the browser's fault: 503 as for the login itself.
            return refuseSignIn(res, domainId, error.reason, error.reason === "discovery_failed" ? providerUnavailable(error) : undefined);
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
            requestId: requestIdOf(res),
            details: { acr: signedIn.acr ?? null, amr: signedIn.amr, auth_time: signedIn.authTime ?? null },
          });
          await deps.sessions.saveSession(secretDigest(sessionSecret), { domain: domainId, subject: signedIn.subject, acr: signedIn.acr, amr: signedIn.amr, authTime: signedIn.authTime, expiresAt });
          // A step-up (or any new sign-in) replaces the browser's cookie; the session it held must
          // not live on where a copy of the old cookie could still use it.
          const replaced = readCookie(req, SESSION_COOKIE);
          if (isWellFormedBrowserSecret(replaced)) await endReplacedSession(res, replaced);
          await deps.sessions.purgeExpired(deps.now(), OPPORTUNISTIC_PURGE_BATCH);
          setCookie(req, res, SESSION_COOKIE, sessionSecret, { path: "/", maxAgeSeconds: SESSION_TTL_SECONDS, sameSite: "Lax", secure });
          res.redirect(303, attempt.returnTo);
        },
      ],
    },
    {
      method: "get",
      path: "/auth/session",
      doc: { summary: "The signed-in session, with the CSRF token for state-changing requests", responses: { "200": { description: "session" }, "401": PROBLEM_RESPONSE } },
      handlers: [
        async (req, res) => {
          const secret = readCookie(req, SESSION_COOKIE);
          const session = isWellFormedBrowserSecret(secret) ? await deps.sessions.findActiveSession(secretDigest(secret), deps.now()) : undefined;
          if (session === undefined || secret === undefined) {
            // A person who opened this URL is sent where signing in starts.
            if (isBrowserNavigation(req)) {
              res.redirect(303, "/");
              return;
            }
            throw new CustosError("invalid_token", { detail: "not signed in" });
          }
          res.json({
            domain: session.domain,
            subject: session.subject,
            acr: session.acr ?? null,
            amr: session.amr,
            auth_time: session.authTime ?? null,
            // The same instant as auth_time (epoch seconds, as in the id_token), in the form of expires_at.
            authenticated_at: session.authTime === undefined ? null : new Date(session.authTime * 1000).toISOString(),
            expires_at: new Date(session.expiresAt * 1000).toISOString(),
            csrf_token: csrfTokenFor(secret),
          });
        },
      ],
    },
    {
      method: "post",
      path: "/auth/logout",
      doc: {
        summary: "End the session (requires X-CSRF-Token); 200 with the provider's end_session_url for the browser to open, when the provider offers RP-initiated logout",
        responses: { "200": { description: "ended here; open end_session_url to end the provider's session too" }, "204": { description: "ended" }, "403": PROBLEM_RESPONSE },
      },
      handlers: [
        async (req, res) => {
          const secret = readCookie(req, SESSION_COOKIE);
          let endSessionUrl: string | undefined;
          if (isWellFormedBrowserSecret(secret)) {
            const session = await deps.sessions.findActiveSession(secretDigest(secret), deps.now());
            if (session !== undefined) {
              const csrf = req.get("x-csrf-token");
              if (csrf === undefined || !constantTimeEqual(csrf, csrfTokenFor(secret))) throw new CustosError("csrf_failed");
              await deps.sessions.endSession(secretDigest(secret), deps.now());
              await deps.audit.append({
                chain: session.domain,
                actor: auditActor.user(session.subject),
                action: "session.end",
                resource: auditResource.domain(session.domain),
                decision: "recorded",
                reason: "ok",
                requestId: requestIdOf(res),
              });
              endSessionUrl = await providerEndSessionUrl(session.domain);
            }
          }
          clearCookie(req, res, SESSION_COOKIE, "/", secure);
          if (endSessionUrl === undefined) {
            res.status(204).end();
            return;
          }
          res.status(200).json({ end_session_url: endSessionUrl });
        },
      ],
    },
  ];
}
