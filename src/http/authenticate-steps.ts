import type { Request, RequestHandler, Response } from "express";
import { sourceAddressOf } from "../audit/denial-recorder.ts";
import type { AuditAction } from "../audit/audit-vocabulary.ts";
import type { UserCredential } from "../identity/credentials.ts";
import { authorizeDomainPermission, type DomainAccessDependencies, type DomainPermissionGate } from "../identity/domain-access.ts";
import { authenticateOperator, type OperatorTokenDependencies } from "../identity/operator/operator-token.ts";
import { authenticateUser, type AuthenticateUserDependencies, type UserCredentialPresented } from "../identity/sessions/authenticate-user.ts";
import { authenticateNode, type AuthenticateNodeDependencies } from "../nodes/authenticate-node.ts";
import type { NodeKeyRecord } from "../nodes/node-repo.ts";
import { bearerTokenOf } from "../platform/credentials.ts";
import { CustosError, isCustosError } from "../platform/errors.ts";
import { parseDomainId, parseNodeId, PLATFORM_CHAIN } from "../platform/names.ts";
import { readCookie, SESSION_COOKIE } from "./cookies.ts";
import { setCredential } from "./credential-locals.ts";
import { isBrowserNavigation } from "./html.ts";
import { clientRequestIdOf, requestIdOf } from "./request-id.ts";
import { routeTemplateOf } from "./routes.ts";
import { step } from "./steps.ts";

/**
 * The Express side of authentication: each step reads the plain values a verb needs from the
 * request (headers, cookie, address, request id), calls the verb, and keeps the credential it
 * returns for the later steps. The verbs themselves never see `req` or `res`.
 */

/** The bearer token of the request; the scheme is case-insensitive (RFC 6750, RFC 7235). */
export function bearerOf(req: Request): string | undefined {
  return bearerTokenOf(req.get("authorization"));
}

/** What a request presents as a user of `domainId`. */
export function userCredentialPresented(req: Request, res: Response, domainId: string): UserCredentialPresented {
  return {
    domainId,
    authorization: req.get("authorization"),
    sessionCookie: readCookie(req, SESSION_COOKIE),
    csrfToken: req.get("x-csrf-token"),
    method: req.method,
    address: sourceAddressOf(req),
    requestId: requestIdOf(res),
  };
}

/** return_to is refused beyond this length (parseReturnTo); a longer target signs in to the start page. */
const MAX_RETURN_TO_CHARS = 1024;

/**
 * authenticateUser, but a person's browser (a GET navigation asking for HTML, with no
 * Authorization header) that is not signed in to a domain that exists is sent to sign in and
 * brought back here, instead of a bare 401: an HTTP concern, so it lives here. The refusal has
 * been recorded as for any client; API clients still get 401 invalid_token.
 */
async function authenticateOrSignIn(deps: AuthenticateUserDependencies, req: Request, res: Response, domain: string): Promise<UserCredential | undefined> {
  try {
    return await authenticateUser(deps, userCredentialPresented(req, res, domain));
  } catch (error) {
    if (!isCustosError(error) || error.code !== "invalid_token" || !isBrowserNavigation(req) || req.get("authorization") !== undefined) throw error;
    if ((await deps.domains.find(domain)) === undefined) throw error;
    const returnTo = req.originalUrl.length <= MAX_RETURN_TO_CHARS ? `?return_to=${encodeURIComponent(req.originalUrl)}` : "";
    res.redirect(303, `/auth/${domain}/login${returnTo}`);
    return undefined;
  }
}

/**
 * A user of the domain in the path who holds one of `gate.anyOf` on it. Authentication
 * failures are audited by authenticateUser, permission refusals by authorizeDomainPermission.
 */
export function requireDomainPermission(deps: DomainAccessDependencies, gate: DomainPermissionGate): RequestHandler {
  return async function authorizeDomainUser(req, res, next) {
    const domain = parseDomainId(req.params.domain);
    const credential = await authenticateOrSignIn(deps, req, res, domain);
    if (credential === undefined) return;
    await authorizeDomainPermission(deps, { credential, gate, requestId: requestIdOf(res) });
    setCredential(res, credential);
    next();
  };
}

/** Any authenticated user of the domain in the path; what they may do is checked later. */
export function requireDomainUser(deps: AuthenticateUserDependencies): RequestHandler {
  return async function authenticateDomainUser(req, res, next) {
    const domain = parseDomainId(req.params.domain);
    const credential = await authenticateOrSignIn(deps, req, res, domain);
    if (credential === undefined) return;
    setCredential(res, credential);
    next();
  };
}

/**
 * The audit routes take both the platform chain (the operator's) and domain chains (their
 * auditors'); this picks the gate by the chain named in the path.
 */
export function requireChainReader(operator: RequestHandler, auditor: RequestHandler): RequestHandler {
  return function authenticateChainReader(req, res, next) {
    const handler = req.params.domain === PLATFORM_CHAIN ? operator : auditor;
    return handler(req, res, next);
  };
}

/** The platform operator (CUSTOS_OPERATOR_TOKEN); see authenticateOperator. */
export function requireOperator(deps: OperatorTokenDependencies): RequestHandler {
  return async function authenticateOperatorStep(req, res, next) {
    const credential = await authenticateOperator(deps, {
      authorization: req.get("authorization"),
      method: req.method,
      route: routeTemplateOf(req),
      address: sourceAddressOf(req),
      requestId: requestIdOf(res),
      clientRequestId: clientRequestIdOf(res),
    });
    setCredential(res, credential);
    next();
  };
}

/**
 * The Express adapter of node authentication: the bearer through the one bearer parser, the
 * client address as `trust proxy` has it, the request id and the path's node id go in as
 * plain values; the authenticated key is kept for the steps after it.
 */
/**
 * Step 1 of every node call. `keysFor`, when given, is where this request looks up the
 * bearer's kid instead of `deps.nodes` (the read path fetches the secret's row in the same query).
 */
export function authenticateNodeStep(
  deps: AuthenticateNodeDependencies,
  action: AuditAction,
  keysFor?: (req: Request, res: Response) => AuthenticateNodeDependencies["nodes"],
): RequestHandler {
  return step("authenticateNode", async (req: Request, res: Response) => {
    const pathNodeId = parseNodeId(req.params.node_id);
    const { key } = await authenticateNode(keysFor === undefined ? deps : { ...deps, nodes: keysFor(req, res) }, {
      bearer: bearerOf(req),
      address: sourceAddressOf(req),
      requestId: requestIdOf(res),
      pathNodeId,
      action,
    });
    res.locals.nodeKey = key;
  });
}

/** The key authenticateNodeStep verified, for the steps after it. */
export function authenticatedNodeOf(res: Response): NodeKeyRecord {
  const key: unknown = res.locals.nodeKey;
  if (key === undefined) throw new CustosError("invalid_token");
  return key as NodeKeyRecord;
}
