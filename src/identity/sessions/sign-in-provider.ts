import type { Domain } from "../domains/domain.ts";
import type { VerifiedSignIn } from "../credentials.ts";
import type { CodeFlowRefusalReason } from "../oidc/code-flow.ts";
import type { IdTokenRejectionReason } from "../oidc/id-token.errors.ts";

/** What the browser sign-in needs from a domain's OpenID provider (adapter: openid-client). */
export interface AuthorizationRequest {
  readonly redirectUri: string;
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  readonly acrValues: string | undefined;
  readonly maxAge: number | undefined;
  /**
   * OIDC Core `prompt`. `login`: the provider authenticates the person again (and so lets them
   * choose the account) instead of answering silently from its own session.
   */
  readonly prompt?: "login";
}

export interface SignInProvider {
  authorizationUrl(domain: Domain, request: AuthorizationRequest): Promise<string>;
  /**
   * Exchanges the code from `callbackUrl` and verifies the id_token (nonce included) with the
   * same validator as bearer tokens. Rejects with a typed error on any mismatch.
   */
  completeSignIn(domain: Domain, callbackUrl: URL, request: AuthorizationRequest): Promise<VerifiedSignIn>;
  /**
   * Where to send the browser so that the provider ends its own session too (OpenID Connect
   * RP-Initiated Logout 1.0, with `client_id`), or undefined when the provider offers no
   * `end_session_endpoint`. Rejects with a `SignInRefused` when the provider cannot be reached.
   */
  endSessionUrl(domain: Domain): Promise<string | undefined>;
}

/** Verifies `Authorization: Bearer <id_token>` for a domain; rejects with a reason code. */
export interface IdTokenVerifier {
  verify(domain: Domain, token: string): Promise<VerifiedSignIn>;
}

export type SignInRefusalReason = IdTokenRejectionReason | CodeFlowRefusalReason;

/** A refusal whose reason goes to the audit record, never to the client. */
export class SignInRefused extends Error {
  readonly reason: SignInRefusalReason;

  constructor(reason: SignInRefusalReason, options: { cause?: unknown } = {}) {
    super(`sign-in refused: ${reason}`, { cause: options.cause });
    this.name = "SignInRefused";
    this.reason = reason;
  }
}
