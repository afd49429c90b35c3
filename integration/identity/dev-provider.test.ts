import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DevProviderRefused, startDevProvider, type DevProvider } from "../../src/dev/provider/dev-provider.ts";
import { discoverJwksUri } from "../../src/identity/oidc/discovery.ts";
import { createHttpJwksFetcher } from "../../src/identity/oidc/fetch-jwks.ts";
import { createCookieJar, driveSignIn, fetchWithJar, formAction } from "../support/oidc-driver.ts";
import { ACCOUNTS, callbackFor, CLIENT_ID, startTestProvider } from "./oidc-fixtures.ts";

async function refusalCode(start: Promise<unknown>): Promise<string> {
  try {
    await start;
  } catch (error) {
    if (error instanceof DevProviderRefused) return error.code;
    throw error;
  }
  throw new Error("the development provider started");
}

function authorizationUrl(provider: DevProvider, extra: Record<string, string> = {}): URL {
  const url = new URL("/auth", provider.issuer);
  url.search = new URLSearchParams({
    client_id: CLIENT_ID,
    redirect_uri: callbackFor("acme"),
    response_type: "code",
    scope: "openid",
    state: "s".repeat(43),
    nonce: "n".repeat(43),
    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    code_challenge_method: "S256",
    ...extra,
  }).toString();
  return url;
}

/** Follows the provider's redirects to its sign-in page. */
async function openSignInPage(provider: DevProvider, extra: Record<string, string> = {}) {
  const jar = createCookieJar();
  let url = authorizationUrl(provider, extra);
  for (let hop = 0; hop < 5; hop += 1) {
    const response = await fetchWithJar(url, jar);
    const location = response.headers.get("location");
    if (location === null) return { url, response, html: await response.text(), jar };
    url = new URL(location, url);
  }
  throw new Error("no sign-in page");
}

describe("startDevProvider refuses", () => {
  it("to start under NODE_ENV=production", async () => {
    await expect(refusalCode(startDevProvider({ clients: [], accounts: ACCOUNTS, nodeEnv: "production" }))).resolves.toBe("production");
  });

  it("to start when the process runs with NODE_ENV=production", async () => {
    const previous = process.env.NODE_ENV;
    process.env.NODE_ENV = "production";
    try {
      await expect(refusalCode(startDevProvider({ clients: [{ client_id: "x", redirect_uris: ["http://127.0.0.1/cb"] }], accounts: ACCOUNTS }))).resolves.toBe("production");
    } finally {
      process.env.NODE_ENV = previous;
    }
  });

  it("to listen on a non-loopback address", async () => {
    await expect(refusalCode(startDevProvider({ host: "0.0.0.0", clients: [{ client_id: "x", redirect_uris: ["http://127.0.0.1/cb"] }], accounts: ACCOUNTS, nodeEnv: "test" }))).resolves.toBe("not_loopback");
  });

  it("to start without clients or accounts", async () => {
    await expect(refusalCode(startDevProvider({ clients: [], accounts: ACCOUNTS, nodeEnv: "test" }))).resolves.toBe("no_clients");
    await expect(refusalCode(startDevProvider({ clients: [{ client_id: "x", redirect_uris: ["http://127.0.0.1/cb"] }], accounts: [], nodeEnv: "test" }))).resolves.toBe("no_accounts");
  });
});

describe("the development provider", () => {
  let provider: DevProvider;

  beforeAll(async () => {
    provider = await startTestProvider(["acme"]);
  });
  afterAll(async () => {
    await provider.close();
  });

  it("serves on loopback with an issuer that is its own origin", () => {
    expect(provider.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(provider.url).toBe(provider.issuer);
  });

  it("publishes discovery that Custos's discoverJwksUri accepts, and a public ES256 JWKS", async () => {
    const jwksUri = await discoverJwksUri(provider.issuer);
    expect(jwksUri).toBe(`${provider.issuer}/jwks`);
    const jwks = await createHttpJwksFetcher()(jwksUri);
    expect(jwks.keys).toHaveLength(1);
    const [key] = jwks.keys;
    expect(key).toMatchObject({ kid: provider.signingKid, kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    expect(key).not.toHaveProperty("d");
  });

  it("advertises code flow, PKCE S256 only, public clients and the two acr values", async () => {
    const metadata = (await (await fetch(`${provider.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      issuer: provider.issuer,
      response_types_supported: ["code"],
      code_challenge_methods_supported: ["S256"],
      acr_values_supported: ["urn:custos:acr:password", "urn:custos:acr:mfa"],
      id_token_signing_alg_values_supported: expect.arrayContaining(["ES256"]) as unknown,
      authorization_response_iss_parameter_supported: true,
    });
    expect(metadata.token_endpoint_auth_methods_supported).toContain("none");
  });

  it("shows a plain HTML form: account and strength radios, posting to /interaction/<uid>/login", async () => {
    const { url, response, html } = await openSignInPage(provider);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(url.pathname).toMatch(/^\/interaction\/[A-Za-z0-9_-]+$/);
    expect(formAction(html, url, "/login").pathname).toBe(`${url.pathname}/login`);
    expect(formAction(html, url, "/abort").pathname).toBe(`${url.pathname}/abort`);
    expect(html).toContain('name="account" value="alice" checked');
    expect(html).toContain('name="account" value="bob@example.org"');
    expect(html).toContain('name="strength" value="password" checked');
    expect(html).toContain('name="strength" value="mfa"');
    expect(html).not.toContain("<script");
  });

  it("preselects the stronger method when acr_values asks for it", async () => {
    const { html } = await openSignInPage(provider, { acr_values: "urn:custos:acr:mfa" });
    expect(html).toContain('name="strength" value="mfa" checked');
    expect(html).toContain("requested acr_values: urn:custos:acr:mfa");
  });

  it("shows the form again, 400, for an unknown account or strength", async () => {
    const { url, html, jar } = await openSignInPage(provider);
    const action = formAction(html, url, "/login");
    const post = (body: string) => fetchWithJar(action, jar, { method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded" } });
    const unknownAccount = await post("account=mallory&strength=password");
    expect(unknownAccount.status).toBe(400);
    expect(await unknownAccount.text()).toContain("choose one of the listed accounts");
    const unknownStrength = await post("account=alice&strength=weak");
    expect(unknownStrength.status).toBe(400);
    const accepted = await post("account=alice&strength=password");
    expect(accepted.status).toBe(303);
  });

  it("answers 400 when the interaction cookie is missing", async () => {
    const { url } = await openSignInPage(provider);
    const response = await fetch(url);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("start again");
  });

  it("refuses an authorization request without PKCE", async () => {
    const url = authorizationUrl(provider);
    url.searchParams.delete("code_challenge");
    url.searchParams.delete("code_challenge_method");
    const response = await fetch(url, { redirect: "manual" });
    const location = new URL(response.headers.get("location") ?? "");
    expect(location.origin + location.pathname).toBe(callbackFor("acme"));
    expect(location.searchParams.get("error")).toBe("invalid_request");
  });

  it("refuses the plain PKCE method", async () => {
    const response = await fetch(authorizationUrl(provider, { code_challenge_method: "plain", code_challenge: "x".repeat(43) }), { redirect: "manual" });
    expect(new URL(response.headers.get("location") ?? "").searchParams.get("error")).toBe("invalid_request");
  });

  it("returns to the client with error=access_denied when the person cancels", async () => {
    const callback = await driveSignIn(authorizationUrl(provider), { account: "alice", strength: "password", cancel: true });
    expect(callback.searchParams.get("error")).toBe("access_denied");
    expect(callback.searchParams.get("state")).toBe("s".repeat(43));
  });
});

describe("the development provider with RS256", () => {
  it("publishes an RSA signing key", async () => {
    const provider = await startTestProvider(["acme"], { signingAlg: "RS256" });
    try {
      const jwks = await createHttpJwksFetcher()(await discoverJwksUri(provider.issuer));
      expect(jwks.keys[0]).toMatchObject({ kid: provider.signingKid, kty: "RSA", alg: "RS256" });
      expect(jwks.keys[0]).not.toHaveProperty("d");
    } finally {
      await provider.close();
    }
  });
});
