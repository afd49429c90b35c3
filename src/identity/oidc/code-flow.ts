import * as client from "openid-client";
import type { VerifiedSignIn } from "../credentials.ts";
import type { Domain } from "../domains/domain.ts";
import { constantTimeEqual } from "../../platform/credentials.ts";
import { SignInRefused, type AuthorizationRequest, type SignInProvider } from "../sessions/sign-in-provider.ts";
import type { OidcIdTokenVerifier } from "./id-token-verifier.ts";
import { providerUrl } from "./provider-url.ts";

/**
 * Why a browser sign-in was refused before or around the id_token. Stable: audited and asserted
 * by tests. The id_token itself, once received, is judged by the bearer validator, whose
 * `IdTokenRejectionReason`s (`nonce_mismatch`, `kid_unknown`, `expired`, …) pass through as is.
 */
export type CodeFlowRefusalReason =
  /** The provider's discovery document could not be fetched or is unusable. */
  | "discovery_failed"
  /** The provider answered the authorization request with an error (e.g. access_denied). */
  | "provider_error"
  /** `state` in the callback is missing or not the one this login attempt sent. */
  | "state_mismatch"
  /** RFC 9207 `iss` in the callback names another issuer (a mix-up attack). */
  | "issuer_mismatch"
  | "code_missing"
  /** The token endpoint refused the code (used, expired, PKCE mismatch) or answered unusably. */
  | "code_exchange_failed"
  | "id_token_missing"
  /** openid-client's own id_token checks failed for a reason other than the nonce. */
  | "id_token_invalid"
  | "nonce_mismatch"
  /** `max_age` was requested and the id_token carries no `auth_time` (OIDC Core §3.1.2.1). */
  | "auth_time_missing";

export class CodeFlowRefused extends SignInRefused {
  override readonly reason: CodeFlowRefusalReason;

  constructor(reason: CodeFlowRefusalReason, options: { cause?: unknown } = {}) {
    super(reason, options);
    this.name = "CodeFlowRefused";
    this.reason = reason;
  }
}

export interface CodeFlowSignInOptions {
  /** The bearer validator: the id_token from the code exchange passes the same checks. */
  readonly verifier: OidcIdTokenVerifier;
  /**
   * openid-client checks the id_token's times before our verifier does; give it the same
   * tolerance so it never refuses what ours would accept. Default 30 s.
   */
  readonly leewaySeconds?: number;
  /** Per HTTP call to the provider (discovery, token endpoint). Default 10 s. */
  readonly timeoutSeconds?: number;
  /** How long a discovered configuration is reused. Default 3600 s. */
  readonly discoveryTtlSeconds?: number;
  /** Seconds since the epoch (discovery cache only). */
  readonly now?: () => number;
}

interface CachedConfiguration {
  readonly configuration: Promise<client.Configuration>;
  readonly fetchedAt: number;
}

/** No tokens or codes in a cause: only what kind of failure it was. */
function safeCause(error: unknown): Error {
  if (error instanceof client.ResponseBodyError) return new Error(`token endpoint error ${error.error} (HTTP ${error.status})`);
  if (error instanceof client.AuthorizationResponseError) return new Error(`authorization error ${error.error}`);
  if (error instanceof client.ClientError) return new Error(`openid-client ${error.code ?? error.name}`);
  if (error instanceof Error) return new Error(error.name);
  return new Error("non-error thrown");
}

/** The claim an oauth4webapi check names, found on the OperationProcessingError openid-client wraps. */
function failedClaim(error: client.ClientError): unknown {
  const inner: unknown = error.cause;
  if (!(inner instanceof Error) || typeof inner.cause !== "object" || inner.cause === null) return undefined;
  return (inner.cause as { claim?: unknown }).claim;
}

const ID_TOKEN_CHECKS = new Set(["OAUTH_JWT_CLAIM_COMPARISON_FAILED", "OAUTH_JWT_TIMESTAMP_CHECK_FAILED"]);

/**
 * openid-client's failures from the code exchange, translated at this boundary and nowhere else.
 * Network failures and timeouts are the exchange failing; anything else is rethrown so that it
 * surfaces as an internal error, not as a plausible refusal.
 */
function translateGrantError(error: unknown): unknown {
  const cause = { cause: safeCause(error) };
  if (error instanceof client.AuthorizationResponseError) return new CodeFlowRefused("provider_error", cause);
  if (error instanceof client.ResponseBodyError) return new CodeFlowRefused("code_exchange_failed", cause);
  if (error instanceof client.ClientError) {
    if (error.code !== undefined && ID_TOKEN_CHECKS.has(error.code)) {
      return new CodeFlowRefused(failedClaim(error) === "nonce" ? "nonce_mismatch" : "id_token_invalid", cause);
    }
    return new CodeFlowRefused("code_exchange_failed", cause);
  }
  // fetch() rejects with a plain TypeError when the connection fails, and timeouts abort it;
  // openid-client's own TypeErrors carry a `code` (ERR_INVALID_ARG_*) and are our bugs.
  if ((error instanceof TypeError && !("code" in error)) || (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError"))) {
    return new CodeFlowRefused("code_exchange_failed", cause);
  }
  return error;
}

/**
 * The callback's own parameters, checked before anything is sent to the provider, so each
 * failure has its own reason (openid-client reports them all as one "invalid response"). The
 * state is compared first: until it matches, nothing else in the URL is ours to act on.
 */
function checkCallback(params: URLSearchParams, domain: Domain, request: AuthorizationRequest): void {
  const state = params.get("state");
  if (state === null || !constantTimeEqual(state, request.state)) throw new CodeFlowRefused("state_mismatch");
  if (params.has("error")) throw new CodeFlowRefused("provider_error");
  const iss = params.get("iss");
  if (iss !== null && iss !== domain.issuer) throw new CodeFlowRefused("issuer_mismatch");
  if (!params.get("code")) throw new CodeFlowRefused("code_missing");
}

/**
 * The URL openid-client reads the response from: the callback's parameters on the redirect_uri
 * the authorization request named, which the token request must repeat exactly (RFC 6749
 * §4.1.3) whatever host or path the callback was reached by.
 */
function responseUrl(callbackUrl: URL, redirectUri: string): URL {
  const url = new URL(redirectUri);
  url.search = callbackUrl.search;
  url.hash = "";
  return url;
}

function authorizationParameters(request: AuthorizationRequest, codeChallenge: string): Record<string, string> {
  const parameters: Record<string, string> = {
    redirect_uri: request.redirectUri,
    response_type: "code",
    scope: "openid",
    state: request.state,
    nonce: request.nonce,
    code_challenge: codeChallenge,
    code_challenge_method: "S256",
  };
  if (request.acrValues !== undefined) parameters.acr_values = request.acrValues;
  if (request.maxAge !== undefined) parameters.max_age = String(request.maxAge);
  if (request.prompt !== undefined) parameters.prompt = request.prompt;
  return parameters;
}

/**
 * The browser sign-in port on openid-client v6: authorization-code flow with PKCE (S256),
 * `state` and `nonce`, for public clients (`token_endpoint_auth_method` none).
 *
 * `authorizationUrl` discovers the issuer (cached per issuer and client for
 * `discoveryTtlSeconds`; a failed discovery is not cached) and builds the request, with
 * `acr_values` and `max_age` when the login asks for step-up.
 *
 * `completeSignIn`, in order: checks the callback (state, error, RFC 9207 iss, code); exchanges
 * the code with the PKCE verifier (openid-client re-checks state and checks the id_token's
 * iss, aud, times and nonce); then verifies the id_token with the bearer validator, nonce
 * included, and requires `auth_time` when `max_age` was requested.
 *
 * `endSessionUrl` is the provider's `end_session_endpoint` with our `client_id`, when it has one.
 *
 * Rejects with {@link CodeFlowRefused} (reasons: {@link CodeFlowRefusalReason}) or with the
 * validator's `IdTokenRejected`; both are `SignInRefused`. Messages and causes never hold a
 * token or a code.
 */
export function createCodeFlowSignIn(options: CodeFlowSignInOptions): SignInProvider {
  const leeway = options.leewaySeconds ?? 30;
  const timeout = options.timeoutSeconds ?? 10;
  const ttl = options.discoveryTtlSeconds ?? 3600;
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const cache = new Map<string, CachedConfiguration>();

  const discover = async (domain: Domain): Promise<client.Configuration> => {
    const server = providerUrl(domain.issuer);
    return client.discovery(server, domain.clientId, { [client.clockTolerance]: leeway }, client.None(), {
      // Loopback only: providerUrl refused any other plain-http issuer. openid-client marks the
      // switch "deprecated" so that it stands out; it is the documented one for local providers.
      // eslint-disable-next-line @typescript-eslint/no-deprecated
      execute: server.protocol === "http:" ? [client.allowInsecureRequests] : [],
      timeout,
    });
  };

  /**
   * One discovery per issuer and client at a time: concurrent sign-ins share the promise, so it
   * settles the same way for each of them. The shared promise itself carries the translated
   * refusal (`discovery_failed`), never openid-client's raw error: callers that joined an
   * in-flight discovery must not see an untyped failure (an internal error) where the caller
   * that started it sees a refusal. A failed discovery leaves the cache at once, so the provider
   * is asked again on the next sign-in rather than remembered as down.
   */
  const configurationFor = (domain: Domain): Promise<client.Configuration> => {
    const key = `${domain.issuer}\n${domain.clientId}`;
    const cached = cache.get(key);
    if (cached !== undefined && now() - cached.fetchedAt < ttl) return cached.configuration;
    const entry: CachedConfiguration = {
      configuration: discover(domain).catch((error: unknown) => {
        if (cache.get(key) === entry) cache.delete(key);
        throw new CodeFlowRefused("discovery_failed", { cause: safeCause(error) });
      }),
      fetchedAt: now(),
    };
    cache.set(key, entry);
    return entry.configuration;
  };

  return {
    async authorizationUrl(domain: Domain, request: AuthorizationRequest): Promise<string> {
      const configuration = await configurationFor(domain);
      const challenge = await client.calculatePKCECodeChallenge(request.codeVerifier);
      return client.buildAuthorizationUrl(configuration, authorizationParameters(request, challenge)).href;
    },

    async completeSignIn(domain: Domain, callbackUrl: URL, request: AuthorizationRequest): Promise<VerifiedSignIn> {
      checkCallback(callbackUrl.searchParams, domain, request);
      const configuration = await configurationFor(domain);
      let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
      try {
        tokens = await client.authorizationCodeGrant(configuration, responseUrl(callbackUrl, request.redirectUri), {
          expectedState: request.state,
          expectedNonce: request.nonce,
          pkceCodeVerifier: request.codeVerifier,
          idTokenExpected: true,
        });
      } catch (error) {
        throw translateGrantError(error);
      }
      const idToken = tokens.id_token;
      if (idToken === undefined) throw new CodeFlowRefused("id_token_missing");
      const signedIn = await options.verifier.verify(domain, idToken, { nonce: request.nonce });
      if (request.maxAge !== undefined && signedIn.authTime === undefined) throw new CodeFlowRefused("auth_time_missing");
      return signedIn;
    },

    async endSessionUrl(domain: Domain): Promise<string | undefined> {
      const configuration = await configurationFor(domain);
      if (configuration.serverMetadata().end_session_endpoint === undefined) return undefined;
      // No id_token_hint: Custos keeps no id_token (it would be a bearer for Custos's own API);
      // client_id names us instead, as RP-Initiated Logout 1.0 allows. No post_logout_redirect_uri
      // either: it would have to be registered with every domain's provider.
      return client.buildEndSessionUrl(configuration).href;
    },
  };
}
