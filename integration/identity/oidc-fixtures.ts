import type { Domain } from "../../src/identity/domains/domain.ts";
import { startDevProvider, type DevProvider, type DevProviderOptions, type DevStrength } from "../../src/dev/provider/dev-provider.ts";
import { createCodeFlowSignIn } from "../../src/identity/oidc/code-flow.ts";
import { discoverJwksUri } from "../../src/identity/oidc/discovery.ts";
import { createHttpJwksFetcher } from "../../src/identity/oidc/fetch-jwks.ts";
import { createIdTokenVerifier, type OidcIdTokenVerifier } from "../../src/identity/oidc/id-token-verifier.ts";
import { createJwksCache, type FetchJwks } from "../../src/identity/oidc/jwks-cache.ts";
import { loginAttemptParameters, newBrowserSecret } from "../../src/identity/sessions/session-secrets.ts";
import { SignInRefused, type AuthorizationRequest, type SignInProvider } from "../../src/identity/sessions/sign-in-provider.ts";
import { driveSignIn, type CookieJar } from "../support/oidc-driver.ts";
import { createHash } from "node:crypto";

export const CLIENT_ID = "custos";
export const ACCOUNTS = [
  { id: "alice", name: "Alice Admin" },
  { id: "bob@example.org", name: "Bob Auditor" },
] as const;

/** Custos's callback for a domain. Port 9 (discard): the driver stops before requesting it. */
export function callbackFor(domain: string): string {
  return `http://127.0.0.1:9/auth/${domain}/callback`;
}

/** A development provider on loopback whose one client, `custos`, may return to these domains. */
export async function startTestProvider(domains: readonly string[], options: Partial<DevProviderOptions> = {}): Promise<DevProvider> {
  return startDevProvider({
    clients: [{ client_id: CLIENT_ID, redirect_uris: domains.map(callbackFor) }],
    accounts: ACCOUNTS,
    nodeEnv: "test",
    ...options,
  });
}

export function domainOf(id: string, provider: DevProvider): Domain {
  return { id, issuer: provider.issuer, clientId: CLIENT_ID, admins: ["alice"], auditors: ["bob@example.org"] };
}

/** What the login route derives from a fresh login cookie. */
export function newLoginAttempt(domain: string, step: { acrValues?: string; maxAge?: number } = {}): AuthorizationRequest {
  return { redirectUri: callbackFor(domain), ...loginAttemptParameters(newBrowserSecret()), acrValues: step.acrValues, maxAge: step.maxAge };
}

export interface RelyingParty {
  readonly verifier: OidcIdTokenVerifier;
  readonly signIn: SignInProvider;
  /** Every JWKS fetch so far, by URI. */
  readonly fetches: string[];
  /** Moves the JWKS cache's clock only: tokens are still judged at the real time. */
  advanceCacheClock(seconds: number): void;
}

const realNow = (): number => Math.floor(Date.now() / 1000);

/** Custos's side, wired as the composition root would: discovery, HTTP JWKS, cache, verifier, code flow. */
export function createRelyingParty(): RelyingParty {
  let offset = 0;
  const fetches: string[] = [];
  const http = createHttpJwksFetcher();
  const fetchJwks: FetchJwks = (uri) => {
    fetches.push(uri);
    return http(uri);
  };
  const jwks = createJwksCache({ fetchJwks, jwksUriFor: discoverJwksUri, now: () => realNow() + offset });
  const verifier = createIdTokenVerifier({ jwks, leewaySeconds: 30, now: realNow });
  return {
    verifier,
    signIn: createCodeFlowSignIn({ verifier }),
    fetches,
    advanceCacheClock(seconds) {
      offset += seconds;
    },
  };
}

export interface SignInOptions {
  readonly account?: string;
  readonly strength?: DevStrength;
  readonly jar?: CookieJar;
  readonly acrValues?: string;
  readonly maxAge?: number;
}

/** The whole browser journey through Custos's port: authorization URL, the page, the callback. */
export async function signInThrough(rp: RelyingParty, domain: Domain, options: SignInOptions = {}) {
  const attempt = newLoginAttempt(domain.id, { acrValues: options.acrValues, maxAge: options.maxAge });
  const url = await rp.signIn.authorizationUrl(domain, attempt);
  const callbackUrl = await driveSignIn(url, { account: options.account ?? "alice", strength: options.strength ?? "password", jar: options.jar });
  return rp.signIn.completeSignIn(domain, callbackUrl, attempt);
}

interface TokenResponse {
  readonly id_token?: string;
}

/**
 * An id_token straight from the provider, obtained without the code under test: the
 * authorization request and the token request are built here by hand, as any relying party's
 * library would. This is what an admin's CLI would present as a bearer.
 */
export async function obtainIdToken(provider: DevProvider, domain: string, options: { account?: string; strength?: DevStrength } = {}): Promise<string> {
  const { state, nonce, codeVerifier } = loginAttemptParameters(newBrowserSecret());
  const authorization = new URL("/auth", provider.issuer);
  authorization.search = new URLSearchParams({
    client_id: CLIENT_ID,
    redirect_uri: callbackFor(domain),
    response_type: "code",
    scope: "openid",
    state,
    nonce,
    code_challenge: createHash("sha256").update(codeVerifier).digest("base64url"),
    code_challenge_method: "S256",
  }).toString();
  const callback = await driveSignIn(authorization, { account: options.account ?? "alice", strength: options.strength ?? "mfa" });
  const code = callback.searchParams.get("code");
  if (code === null) throw new Error(`no code in the callback: ${callback.search}`);
  const response = await fetch(new URL("/token", provider.issuer), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: callbackFor(domain), client_id: CLIENT_ID, code_verifier: codeVerifier }).toString(),
  });
  const body = (await response.json()) as TokenResponse;
  if (!response.ok || body.id_token === undefined) throw new Error(`token endpoint answered HTTP ${response.status}`);
  return body.id_token;
}

/** The reason a sign-in was refused; fails the test when it was not a SignInRefused. */
export async function refusalOf(promise: Promise<unknown>): Promise<{ reason: string; error: SignInRefused }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SignInRefused) return { reason: error.reason, error };
    throw error;
  }
  throw new Error("expected a refusal, but the sign-in succeeded");
}
