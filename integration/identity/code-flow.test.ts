import { createHash } from "node:crypto";
import { decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Domain } from "../../src/identity/domains/domain.ts";
import type { DevProvider } from "../../src/dev/provider/dev-provider.ts";
import { createCodeFlowSignIn } from "../../src/identity/oidc/code-flow.ts";
import { createCookieJar, driveSignIn, driveSignInFlow } from "../support/oidc-driver.ts";
import { createRelyingParty, domainOf, newLoginAttempt, obtainIdToken, refusalOf, signInThrough, startTestProvider, type RelyingParty } from "./oidc-fixtures.ts";

const PASSWORD = "urn:custos:acr:password";
const MFA = "urn:custos:acr:mfa";
const now = (): number => Math.floor(Date.now() / 1000);

let provider: DevProvider;
let acme: Domain;
let rp: RelyingParty;

beforeAll(async () => {
  provider = await startTestProvider(["acme"]);
  acme = domainOf("acme", provider);
  rp = createRelyingParty();
});
afterAll(async () => {
  await provider.close();
});

/** Authorization URL and callback of a sign-in that has not been completed yet. */
async function pendingSignIn(options: { strength?: "password" | "mfa" } = {}) {
  const attempt = newLoginAttempt("acme");
  const url = await rp.signIn.authorizationUrl(acme, attempt);
  const callbackUrl = await driveSignIn(url, { account: "alice", strength: options.strength ?? "password" });
  return { attempt, callbackUrl };
}

describe("authorizationUrl", () => {
  it("asks for the code flow with scope openid, PKCE S256, state and nonce", async () => {
    const attempt = newLoginAttempt("acme");
    const url = new URL(await rp.signIn.authorizationUrl(acme, attempt));
    expect(url.origin + url.pathname).toBe(`${provider.issuer}/auth`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      client_id: "custos",
      redirect_uri: attempt.redirectUri,
      response_type: "code",
      scope: "openid",
      state: attempt.state,
      nonce: attempt.nonce,
      code_challenge: createHash("sha256").update(attempt.codeVerifier).digest("base64url"),
      code_challenge_method: "S256",
    });
  });

  it("adds acr_values and max_age for a step-up", async () => {
    const url = new URL(await rp.signIn.authorizationUrl(acme, newLoginAttempt("acme", { acrValues: `${MFA} ${PASSWORD}`, maxAge: 0 })));
    expect(url.searchParams.get("acr_values")).toBe(`${MFA} ${PASSWORD}`);
    expect(url.searchParams.get("max_age")).toBe("0");
  });

  it("adds prompt=login when the login asks the provider to authenticate again", async () => {
    const url = new URL(await rp.signIn.authorizationUrl(acme, { ...newLoginAttempt("acme"), prompt: "login" }));
    expect(url.searchParams.get("prompt")).toBe("login");
  });

  it("refuses with discovery_failed when the issuer cannot be reached", async () => {
    const gone = { ...acme, issuer: "http://127.0.0.1:9" };
    await expect(refusalOf(rp.signIn.authorizationUrl(gone, newLoginAttempt("acme")))).resolves.toMatchObject({ reason: "discovery_failed" });
  });

  it("refuses with discovery_failed for a plain-http issuer that is not loopback", async () => {
    const remote = { ...acme, issuer: "http://idp.example.org" };
    await expect(refusalOf(rp.signIn.authorizationUrl(remote, newLoginAttempt("acme")))).resolves.toMatchObject({ reason: "discovery_failed" });
  });
});

describe("completeSignIn", () => {
  it.each([
    ["password", PASSWORD, ["pwd"]],
    ["mfa", MFA, ["pwd", "otp"]],
  ] as const)("returns the namespaced subject, acr, amr and a fresh auth_time for %s", async (strength, acr, amr) => {
    const before = now();
    const signedIn = await signInThrough(rp, acme, { account: "bob@example.org", strength });
    expect(signedIn).toMatchObject({ sub: "bob@example.org", subject: "oidc:acme:bob@example.org", acr, amr });
    expect(signedIn.authTime).toBeGreaterThanOrEqual(before);
    expect(signedIn.authTime).toBeLessThanOrEqual(now());
  });

  it("refuses a callback whose state is not this attempt's (state_mismatch)", async () => {
    const { attempt, callbackUrl } = await pendingSignIn();
    const other = newLoginAttempt("acme");
    await expect(refusalOf(rp.signIn.completeSignIn(acme, callbackUrl, { ...attempt, state: other.state }))).resolves.toMatchObject({ reason: "state_mismatch" });
    const stateless = new URL(callbackUrl);
    stateless.searchParams.delete("state");
    await expect(refusalOf(rp.signIn.completeSignIn(acme, stateless, attempt))).resolves.toMatchObject({ reason: "state_mismatch" });
  });

  it("refuses an id_token minted for another nonce (nonce_mismatch)", async () => {
    const { attempt, callbackUrl } = await pendingSignIn();
    const other = newLoginAttempt("acme");
    await expect(refusalOf(rp.signIn.completeSignIn(acme, callbackUrl, { ...attempt, nonce: other.nonce }))).resolves.toMatchObject({ reason: "nonce_mismatch" });
  });

  it("refuses a code already used (code_exchange_failed), without the code in message or cause", async () => {
    const { attempt, callbackUrl } = await pendingSignIn();
    await rp.signIn.completeSignIn(acme, callbackUrl, attempt);
    const { reason, error } = await refusalOf(rp.signIn.completeSignIn(acme, callbackUrl, attempt));
    expect(reason).toBe("code_exchange_failed");
    const code = callbackUrl.searchParams.get("code") ?? "";
    expect(code.length).toBeGreaterThan(10);
    expect(`${error.message} ${String(error.cause)} ${JSON.stringify(error)}`).not.toContain(code);
  });

  it("refuses the code with another PKCE verifier (code_exchange_failed)", async () => {
    const { attempt, callbackUrl } = await pendingSignIn();
    const other = newLoginAttempt("acme");
    await expect(refusalOf(rp.signIn.completeSignIn(acme, callbackUrl, { ...attempt, codeVerifier: other.codeVerifier }))).resolves.toMatchObject({ reason: "code_exchange_failed" });
  });

  it("refuses a callback naming another issuer (issuer_mismatch)", async () => {
    const { attempt, callbackUrl } = await pendingSignIn();
    const mixedUp = new URL(callbackUrl);
    mixedUp.searchParams.set("iss", "http://127.0.0.1:1");
    await expect(refusalOf(rp.signIn.completeSignIn(acme, mixedUp, attempt))).resolves.toMatchObject({ reason: "issuer_mismatch" });
  });

  it("refuses a callback without a code (code_missing)", async () => {
    const { attempt, callbackUrl } = await pendingSignIn();
    const codeless = new URL(callbackUrl);
    codeless.searchParams.delete("code");
    await expect(refusalOf(rp.signIn.completeSignIn(acme, codeless, attempt))).resolves.toMatchObject({ reason: "code_missing" });
  });

  it("refuses a cancelled sign-in (provider_error)", async () => {
    const attempt = newLoginAttempt("acme");
    const callbackUrl = await driveSignIn(await rp.signIn.authorizationUrl(acme, attempt), { account: "alice", strength: "password", cancel: true });
    await expect(refusalOf(rp.signIn.completeSignIn(acme, callbackUrl, attempt))).resolves.toMatchObject({ reason: "provider_error" });
  });

  it("refuses with code_exchange_failed when the token endpoint cannot be reached", async () => {
    const doomed = await startTestProvider(["acme"]);
    const domain = domainOf("acme", doomed);
    const attempt = newLoginAttempt("acme");
    const callbackUrl = await driveSignIn(await rp.signIn.authorizationUrl(domain, attempt), { account: "alice", strength: "password" });
    await doomed.close();
    await expect(refusalOf(rp.signIn.completeSignIn(domain, callbackUrl, attempt))).resolves.toMatchObject({ reason: "code_exchange_failed" });
  });

  it("refuses when the domain's client id is not the token's audience", async () => {
    const { attempt, callbackUrl } = await pendingSignIn();
    // The discovery cache is per client, so this client fails at the token endpoint itself.
    const otherClient = { ...acme, clientId: "someone-else" };
    await expect(refusalOf(rp.signIn.completeSignIn(otherClient, callbackUrl, attempt))).resolves.toMatchObject({ reason: "code_exchange_failed" });
  });
});

describe("step-up and single sign-on through the provider session", () => {
  it("reuses the session silently, and max_age=0 with acr_values=mfa asks again and raises acr", async () => {
    const jar = createCookieJar();
    const first = await signInThrough(rp, acme, { jar, strength: "password" });
    expect(first.acr).toBe(PASSWORD);

    const silentAttempt = newLoginAttempt("acme");
    const silent = await driveSignInFlow(await rp.signIn.authorizationUrl(acme, silentAttempt), { account: "alice", strength: "password", jar });
    expect(silent.prompts).toBe(0);
    await expect(rp.signIn.completeSignIn(acme, silent.callbackUrl, silentAttempt)).resolves.toMatchObject({ acr: PASSWORD, authTime: first.authTime });

    const stepUp = newLoginAttempt("acme", { acrValues: MFA, maxAge: 0 });
    const drive = await driveSignInFlow(await rp.signIn.authorizationUrl(acme, stepUp), { account: "alice", strength: "mfa", jar });
    expect(drive.prompts).toBe(1);
    const stepped = await rp.signIn.completeSignIn(acme, drive.callbackUrl, stepUp);
    expect(stepped).toMatchObject({ subject: "oidc:acme:alice", acr: MFA, amr: ["pwd", "otp"] });
    expect(stepped.authTime).toBeGreaterThanOrEqual(first.authTime ?? Infinity);
  });

  it("asks again for max_age=0 even within the second of the last login", async () => {
    const jar = createCookieJar();
    const first = await signInThrough(rp, acme, { jar, strength: "password" });
    const attempt = newLoginAttempt("acme", { maxAge: 0 });
    const drive = await driveSignInFlow(await rp.signIn.authorizationUrl(acme, attempt), { account: "alice", strength: "password", jar });
    expect(drive.prompts).toBe(1);
    const again = await rp.signIn.completeSignIn(acme, drive.callbackUrl, attempt);
    expect(again.authTime).toBeGreaterThanOrEqual(first.authTime ?? Infinity);
  });

  it("asks again for prompt=login", async () => {
    const jar = createCookieJar();
    await signInThrough(rp, acme, { jar, strength: "password" });
    const attempt = newLoginAttempt("acme");
    const url = new URL(await rp.signIn.authorizationUrl(acme, attempt));
    url.searchParams.set("prompt", "login");
    const drive = await driveSignInFlow(url, { account: "bob@example.org", strength: "mfa", jar });
    expect(drive.prompts).toBe(1);
    await expect(rp.signIn.completeSignIn(acme, drive.callbackUrl, attempt)).resolves.toMatchObject({ subject: "oidc:acme:bob@example.org", acr: MFA });
  });

  it("asks again when the session's acr is not among acr_values, even without max_age", async () => {
    const jar = createCookieJar();
    await signInThrough(rp, acme, { jar, strength: "password" });
    const attempt = newLoginAttempt("acme", { acrValues: MFA });
    const drive = await driveSignInFlow(await rp.signIn.authorizationUrl(acme, attempt), { account: "alice", strength: "mfa", jar });
    expect(drive.prompts).toBe(1);
    await expect(rp.signIn.completeSignIn(acme, drive.callbackUrl, attempt)).resolves.toMatchObject({ acr: MFA });
  });

  it("issues the weaker acr when the person declines the stronger method (the gate decides)", async () => {
    const attempt = newLoginAttempt("acme", { acrValues: MFA, maxAge: 0 });
    const callbackUrl = await driveSignIn(await rp.signIn.authorizationUrl(acme, attempt), { account: "alice", strength: "password" });
    await expect(rp.signIn.completeSignIn(acme, callbackUrl, attempt)).resolves.toMatchObject({ acr: PASSWORD, amr: ["pwd"] });
  });
});

describe("an id_token from the provider as a bearer", () => {
  it("is accepted by the verifier, signed ES256 with the provider's current key", async () => {
    const token = await obtainIdToken(provider, "acme", { account: "alice", strength: "mfa" });
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: "ES256", kid: provider.signingKid });
    await expect(rp.verifier.verify(acme, token)).resolves.toMatchObject({ subject: "oidc:acme:alice", acr: MFA, amr: ["pwd", "otp"] });
  });

  it("is refused for the browser callback when it carries another nonce", async () => {
    const token = await obtainIdToken(provider, "acme");
    await expect(refusalOf(rp.verifier.verify(acme, token, { nonce: newLoginAttempt("acme").nonce }))).resolves.toMatchObject({ reason: "nonce_mismatch" });
  });

  it("signed RS256 by a provider so configured, is accepted through the code flow too", async () => {
    const rsa = await startTestProvider(["acme"], { signingAlg: "RS256" });
    try {
      const domain = domainOf("acme", rsa);
      const fresh = createRelyingParty();
      const token = await obtainIdToken(rsa, "acme");
      expect(decodeProtectedHeader(token).alg).toBe("RS256");
      await expect(fresh.verifier.verify(domain, token)).resolves.toMatchObject({ subject: "oidc:acme:alice" });
      await expect(signInThrough(fresh, domain, { strength: "mfa" })).resolves.toMatchObject({ acr: MFA });
    } finally {
      await rsa.close();
    }
  });
});

describe("endSessionUrl", () => {
  it("is the provider's end_session_endpoint with our client_id (RP-initiated logout)", async () => {
    const url = new URL((await rp.signIn.endSessionUrl(acme)) ?? "");
    expect(url.origin + url.pathname).toBe(`${provider.issuer}/session/end`);
    expect(Object.fromEntries(url.searchParams)).toEqual({ client_id: "custos" });
  });

  it("refuses with discovery_failed when the issuer cannot be reached", async () => {
    await expect(refusalOf(rp.signIn.endSessionUrl({ ...acme, issuer: "http://127.0.0.1:9" }))).resolves.toMatchObject({ reason: "discovery_failed" });
  });
});

describe("createCodeFlowSignIn discovery cache", () => {
  it("discovers an issuer once and reuses it", async () => {
    const requests: string[] = [];
    const original = globalThis.fetch;
    globalThis.fetch = (input, init) => {
      requests.push(input instanceof Request ? input.url : String(input));
      return original(input, init);
    };
    try {
      const signIn = createCodeFlowSignIn({ verifier: rp.verifier });
      await signIn.authorizationUrl(acme, newLoginAttempt("acme"));
      await signIn.authorizationUrl(acme, newLoginAttempt("acme"));
    } finally {
      globalThis.fetch = original;
    }
    expect(requests.filter((url) => url.endsWith("/.well-known/openid-configuration"))).toHaveLength(1);
  });
});
