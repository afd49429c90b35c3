import type { Request, RequestHandler, Response } from "express";
import { sourceAddressOf } from "../../audit/denial-recorder.ts";
import { clearCookie, readCookie, SESSION_COOKIE, setCookie } from "../../http/cookies.ts";
import { isBrowserNavigation, sendHtml, sendStylesheet, STYLESHEET_PATH } from "../../http/html.ts";
import { renderLandingPage } from "../../http/landing-page.ts";
import { PROBLEM_RESPONSE } from "../../http/openapi.ts";
import { requestIdOf } from "../../http/request-id.ts";
import type { RouteDefinition } from "../../http/routes.ts";
import { CustosError } from "../../platform/errors.ts";
import { isDomainId, parseDomainId } from "../../platform/names.ts";
import type { RequestOrigin } from "./sign-in-origin.ts";
import {
  beginSignIn, callbackUri, completeSignIn, findSignInDomain, LOGIN_TTL_SECONDS, readSession, SESSION_TTL_SECONDS, signedInPerson, signOut,
  type SignInDependencies,
} from "./sign-in.ts";

export type { SignInDependencies } from "./sign-in.ts";

/**
 * The browser sign-in's routes: each is a list of named steps that read plain values from the
 * request, call a verb of sign-in.ts, and turn its result into cookies, redirects and pages.
 */

export const LOGIN_COOKIE = "custos_login";

function originOf(req: Request): RequestOrigin {
  return { protocol: req.protocol, host: req.get("host"), localAddress: req.socket.localAddress };
}

export function signInRoutes(deps: SignInDependencies): RouteDefinition[] {
  // Behind a TLS-terminating proxy this hop is plain HTTP; the public URL says what browsers see.
  const secure = deps.publicUrl?.startsWith("https://") === true;

  const showStartPage: RequestHandler = async (req, res) => {
    // API clients keep the answer they always had: there is no resource here.
    if (!isBrowserNavigation(req)) throw new CustosError("not_found");
    sendHtml(res, 200, renderLandingPage({ person: await signedInPerson(deps, readCookie(req, SESSION_COOKIE)) }));
  };

  const redirectToLogin: RequestHandler = (req, res) => {
    const domain = typeof req.query.domain === "string" ? req.query.domain.trim().toLowerCase() : "";
    if (!isDomainId(domain)) throw new CustosError("invalid_request", { detail: "domain must be a domain id (a-z, 0-9, '-', up to 63 characters)" });
    res.redirect(303, `/auth/${domain}/login`);
  };

  const startSignIn: RequestHandler = async (req, res) => {
    const begun = await beginSignIn(deps, {
      domainId: parseDomainId(req.params.domain),
      returnTo: req.query.return_to,
      acrValues: req.query.acr_values,
      maxAge: req.query.max_age,
      origin: originOf(req),
      address: req.ip ?? req.socket.remoteAddress,
    });
    // Lax, not Strict: the provider sends the browser back with a cross-site top-level GET.
    setCookie(req, res, LOGIN_COOKIE, begun.loginSecret, { path: "/auth/", maxAgeSeconds: LOGIN_TTL_SECONDS, sameSite: "Lax", secure });
    res.redirect(303, begun.providerUrl);
  };

  const finishSignIn: RequestHandler = async (req, res) => {
    const domain = await findSignInDomain(deps, parseDomainId(req.params.domain));
    const redirectUri = callbackUri(deps, originOf(req), domain.id);
    const loginSecret = readCookie(req, LOGIN_COOKIE);
    // The login cookie is single use whatever happens next: cleared before the attempt is read.
    clearCookie(req, res, LOGIN_COOKIE, "/auth/", secure);
    const completed = await completeSignIn(deps, {
      domain,
      redirectUri,
      loginSecret,
      providerError: typeof req.query.error === "string",
      callbackPath: req.originalUrl,
      replacedSessionSecret: readCookie(req, SESSION_COOKIE),
      address: sourceAddressOf(res.req),
      requestId: requestIdOf(res),
    });
    setCookie(req, res, SESSION_COOKIE, completed.sessionSecret, { path: "/", maxAgeSeconds: SESSION_TTL_SECONDS, sameSite: "Lax", secure });
    res.redirect(303, completed.returnTo);
  };

  const showSession: RequestHandler = async (req, res) => {
    const session = await readSession(deps, readCookie(req, SESSION_COOKIE));
    if (session === undefined) {
      // A person who opened this URL is sent where signing in starts.
      if (isBrowserNavigation(req)) {
        res.redirect(303, "/");
        return;
      }
      throw new CustosError("invalid_token", { detail: "not signed in" });
    }
    res.json(session);
  };

  const endSession: RequestHandler = async (req: Request, res: Response) => {
    const { endSessionUrl } = await signOut(deps, { sessionSecret: readCookie(req, SESSION_COOKIE), csrfToken: req.get("x-csrf-token"), requestId: requestIdOf(res) });
    clearCookie(req, res, SESSION_COOKIE, "/", secure);
    if (endSessionUrl === undefined) {
      res.status(204).end();
      return;
    }
    res.status(200).json({ end_session_url: endSessionUrl });
  };

  return [
    {
      method: "get",
      path: "/",
      doc: {
        summary: "The start page, for browsers (Accept: text/html): who is signed in and what they can do next; the landing page after sign-in",
        responses: { "200": { description: "HTML" }, "404": PROBLEM_RESPONSE },
      },
      handlers: [showStartPage],
    },
    {
      method: "get",
      path: "/sign-in",
      doc: {
        summary: "The start page's sign-in form: redirects to /auth/{domain}/login",
        parameters: [{ name: "domain", in: "query", required: true, schema: { type: "string" } }],
        responses: { "303": { description: "to /auth/{domain}/login" }, "400": PROBLEM_RESPONSE },
      },
      handlers: [redirectToLogin],
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
      handlers: [startSignIn],
    },
    {
      method: "get",
      path: "/auth/:domain/callback",
      doc: {
        summary: "The provider's redirect back; creates the session and ends the one it replaces",
        responses: { "303": { description: "to return_to, signed in" }, "401": PROBLEM_RESPONSE, "404": PROBLEM_RESPONSE, "501": PROBLEM_RESPONSE, "503": PROBLEM_RESPONSE },
      },
      handlers: [finishSignIn],
    },
    {
      method: "get",
      path: "/auth/session",
      doc: { summary: "The signed-in session, with the CSRF token for state-changing requests", responses: { "200": { description: "session" }, "401": PROBLEM_RESPONSE } },
      handlers: [showSession],
    },
    {
      method: "post",
      path: "/auth/logout",
      doc: {
        summary: "End the session (requires X-CSRF-Token); 200 with the provider's end_session_url for the browser to open, when the provider offers RP-initiated logout",
        responses: { "200": { description: "ended here; open end_session_url to end the provider's session too" }, "204": { description: "ended" }, "403": PROBLEM_RESPONSE },
      },
      handlers: [endSession],
    },
  ];
}
