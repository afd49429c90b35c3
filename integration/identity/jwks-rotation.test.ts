import { decodeProtectedHeader } from "jose";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Domain } from "../../src/identity/domains/domain.ts";
import type { DevProvider } from "../../src/dev/provider/dev-provider.ts";
import { discoverJwksUri } from "../../src/identity/oidc/discovery.ts";
import { createHttpJwksFetcher } from "../../src/identity/oidc/fetch-jwks.ts";
import { DEFAULT_JWKS_MAX_AGE_SECONDS, DEFAULT_MIN_REFRESH_INTERVAL_SECONDS } from "../../src/identity/oidc/jwks-cache.ts";
import { createCookieJar, driveSignInFlow } from "../support/oidc-driver.ts";
import { createRelyingParty, domainOf, newLoginAttempt, obtainIdToken, refusalOf, signInThrough, startTestProvider, type RelyingParty } from "./oidc-fixtures.ts";

let provider: DevProvider;
let acme: Domain;
let rp: RelyingParty;

beforeEach(async () => {
  provider = await startTestProvider(["acme"]);
  acme = domainOf("acme", provider);
  rp = createRelyingParty();
});
afterEach(async () => {
  await provider.close();
});

async function publishedKids(): Promise<string[]> {
  const jwks = await createHttpJwksFetcher()(await discoverJwksUri(provider.issuer));
  return jwks.keys.map((key) => key.kid ?? "");
}

describe("rotateKeys at the provider", () => {
  it("signs with the new key and keeps the old one published by default", async () => {
    const oldKid = provider.signingKid;
    const newKid = await provider.rotateKeys();
    expect(newKid).not.toBe(oldKid);
    expect(provider.signingKid).toBe(newKid);
    await expect(publishedKids()).resolves.toEqual([newKid, oldKid]);
    expect(decodeProtectedHeader(await obtainIdToken(provider, "acme")).kid).toBe(newKid);
  });

  it("removes the old key from the JWKS with keepPrevious: false", async () => {
    const oldKid = provider.signingKid;
    const newKid = await provider.rotateKeys({ keepPrevious: false });
    await expect(publishedKids()).resolves.toEqual([newKid]);
    expect(provider.publishedKids()).not.toContain(oldKid);
  });

  it("keeps provider sessions across a rotation", async () => {
    const jar = createCookieJar();
    await signInThrough(rp, acme, { jar });
    await provider.rotateKeys({ keepPrevious: false });
    rp.advanceCacheClock(DEFAULT_MIN_REFRESH_INTERVAL_SECONDS);
    const attempt = newLoginAttempt("acme");
    const drive = await driveSignInFlow(await rp.signIn.authorizationUrl(acme, attempt), { account: "alice", strength: "password", jar });
    expect(drive.prompts).toBe(0);
    await expect(rp.signIn.completeSignIn(acme, drive.callbackUrl, attempt)).resolves.toMatchObject({ subject: "oidc:acme:alice" });
  });
});

describe("Custos's verifier across a provider rotation", () => {
  it("accepts a token signed by the new key after exactly one JWKS refresh", async () => {
    await expect(rp.verifier.verify(acme, await obtainIdToken(provider, "acme"))).resolves.toBeDefined();
    expect(rp.fetches).toHaveLength(1);

    await provider.rotateKeys();
    const rotated = await obtainIdToken(provider, "acme");
    // Within the refresh interval an unknown kid costs the provider nothing and is refused…
    await expect(refusalOf(rp.verifier.verify(acme, rotated))).resolves.toMatchObject({ reason: "kid_unknown" });
    expect(rp.fetches).toHaveLength(1);
    // …after it, one refresh picks up the new key.
    rp.advanceCacheClock(DEFAULT_MIN_REFRESH_INTERVAL_SECONDS);
    await expect(rp.verifier.verify(acme, rotated)).resolves.toMatchObject({ subject: "oidc:acme:alice" });
    expect(rp.fetches).toHaveLength(2);
    // Known kids, old and new, verify from the cache.
    await expect(rp.verifier.verify(acme, await obtainIdToken(provider, "acme"))).resolves.toBeDefined();
    expect(rp.fetches).toHaveLength(2);
  });

  it("keeps accepting the previous key while the provider still publishes it", async () => {
    const before = await obtainIdToken(provider, "acme");
    await provider.rotateKeys();
    rp.advanceCacheClock(DEFAULT_JWKS_MAX_AGE_SECONDS);
    await expect(rp.verifier.verify(acme, before)).resolves.toBeDefined();
    expect(rp.fetches).toHaveLength(1);
  });

  it("refuses a token whose key the provider removed, once the cached set ages out", async () => {
    const before = await obtainIdToken(provider, "acme");
    await expect(rp.verifier.verify(acme, before)).resolves.toBeDefined();
    await provider.rotateKeys({ keepPrevious: false });
    // Still cached: no network call per request, so the removal is not seen yet.
    await expect(rp.verifier.verify(acme, before)).resolves.toBeDefined();
    rp.advanceCacheClock(DEFAULT_JWKS_MAX_AGE_SECONDS);
    await expect(refusalOf(rp.verifier.verify(acme, before))).resolves.toMatchObject({ reason: "kid_unknown" });
    expect(rp.fetches).toHaveLength(2);
  });

  it("refuses a token whose key was removed as soon as a new key's refresh replaced the set", async () => {
    const before = await obtainIdToken(provider, "acme");
    await expect(rp.verifier.verify(acme, before)).resolves.toBeDefined();
    await provider.rotateKeys({ keepPrevious: false });
    rp.advanceCacheClock(DEFAULT_MIN_REFRESH_INTERVAL_SECONDS);
    await expect(rp.verifier.verify(acme, await obtainIdToken(provider, "acme"))).resolves.toBeDefined();
    await expect(refusalOf(rp.verifier.verify(acme, before))).resolves.toMatchObject({ reason: "kid_unknown" });
  });

  it("completes browser sign-ins signed by the new key", async () => {
    await signInThrough(rp, acme);
    await provider.rotateKeys({ keepPrevious: false });
    rp.advanceCacheClock(DEFAULT_MIN_REFRESH_INTERVAL_SECONDS);
    await expect(signInThrough(rp, acme, { strength: "mfa" })).resolves.toMatchObject({ acr: "urn:custos:acr:mfa" });
  });
});
