import type { Request, RequestHandler, Response } from "express";
import type { AuditAppender } from "../audit/audit-port.ts";
import { auditActor, auditResource, type AuditAction } from "../audit/audit-vocabulary.ts";
import { FOR_PEOPLE, type Authorizer, type Permission } from "../authz/authorizer.ts";
import { domainRef, userRef } from "../authz/object-ids.ts";
import { isBrowserNavigation } from "../http/html.ts";
import { requestIdOf } from "../http/request-id.ts";
import { CustosError, isCustosError } from "../platform/errors.ts";
import { parseDomainId, PLATFORM_CHAIN } from "../platform/names.ts";
import { setCredential } from "./credential-locals.ts";
import type { UserCredential } from "./admin-credential.ts";
import { authenticateUser, type AuthenticateUserDependencies } from "./sessions/authenticate-user.ts";

/** return_to is refused beyond this length (parseReturnTo); a longer target signs in to the start page. */
const MAX_RETURN_TO_CHARS = 1024;

/**
 * authenticateUser, but a person's browser (a GET navigation asking for HTML, with no
 * Authorization header) that is not signed in to a domain that exists is sent to sign in and
 * brought back here, instead of a bare 401. The refusal has been recorded as for any client;
 * API clients still get 401 invalid_token.
 */
async function authenticateOrSignIn(deps: AuthenticateUserDependencies, req: Request, res: Response, domain: string): Promise<UserCredential | undefined> {
  try {
    return await authenticateUser(deps, req, res, domain);
  } catch (error) {
    if (!isCustosError(error) || error.code !== "invalid_token" || !isBrowserNavigation(req) || req.get("authorization") !== undefined) throw error;
    if ((await deps.domains.find(domain)) === undefined) throw error;
    const returnTo = req.originalUrl.length <= MAX_RETURN_TO_CHARS ? `?return_to=${encodeURIComponent(req.originalUrl)}` : "";
    res.redirect(303, `/auth/${domain}/login${returnTo}`);
    return undefined;
  }
}

export interface DomainAccessDependencies extends AuthenticateUserDependencies {
  readonly authorizer: Authorizer;
  readonly audit: AuditAppender;
}

/** What a route asks of the domain's user, and the action a refusal is recorded as. */
export interface DomainPermissionGate {
  readonly action: AuditAction;
  readonly anyOf: readonly Permission[];
}

/**
 * A user of the domain in the path who holds one of `anyOf` on it in SpiceDB (`audit` for the
 * domain's auditors, `administer` for its admins). Authentication failures are audited by
 * authenticateUser; a refusal here is audited on the domain's chain and answers 403.
 */
export function requireDomainPermission(deps: DomainAccessDependencies, gate: DomainPermissionGate): RequestHandler {
  const permissions = gate.anyOf;
  return async (req, res, next) => {
    const domain = parseDomainId(req.params.domain);
    const credential = await authenticateOrSignIn(deps, req, res, domain);
    if (credential === undefined) return;
    const answers = await Promise.all(
      permissions.map((each) => deps.authorizer.check({ resource: domainRef(domain), permission: each, subject: userRef(credential.subject) }, FOR_PEOPLE)),
    );
    const allowed = answers.some(Boolean);
    if (!allowed) {
      await deps.audit.append({
        chain: domain,
        actor: auditActor.user(credential.subject),
        action: gate.action,
        resource: auditResource.domain(domain),
        decision: "denied",
        reason: "permission_denied",
        requestId: requestIdOf(res),
      });
      throw new CustosError("permission_denied", { detail: `this action needs the ${permissions.join(" or ")} permission on the domain` });
    }
    setCredential(res, credential);
    next();
  };
}

/**
 * The audit routes take both the platform chain (the operator's) and domain chains (their
 * auditors'); this picks the gate by the chain named in the path.
 */
export function requireChainReader(operator: RequestHandler, auditor: RequestHandler): RequestHandler {
  return (req, res, next) => {
    const handler = req.params.domain === PLATFORM_CHAIN ? operator : auditor;
    return handler(req, res, next);
  };
}

/** Any authenticated user of the domain in the path; what they may do is checked later. */
export function requireDomainUser(deps: AuthenticateUserDependencies): RequestHandler {
  return async (req, res, next) => {
    const domain = parseDomainId(req.params.domain);
    const credential = await authenticateOrSignIn(deps, req, res, domain);
    if (credential === undefined) return;
    setCredential(res, credential);
    next();
  };
}
