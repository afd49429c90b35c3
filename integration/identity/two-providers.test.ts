import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Domain } from "../../src/identity/domains/domain.ts";
import type { DevProvider } from "../../src/dev/provider/dev-provider.ts";
import { driveSignIn } from "../support/oidc-driver.ts";
import { createRelyingParty, domainOf, newLoginAttempt, obtainIdToken, refusalOf, signInThrough, startTestProvider, type RelyingParty } from "./oidc-fixtures.ts";

/** Two tenants, each with its own provider; both providers know an account called `alice`. */
let providerA: DevProvider;
let providerB: DevProvider;
let acme: Domain;
let globex: Domain;
let rp: RelyingParty;

beforeAll(async () => {
  [providerA, providerB] = await Promise.all([startTestProvider(["acme"]), startTestProvider(["globex"])]);
  acme = domainOf("acme", providerA);
  globex = domainOf("globex", providerB);
  rp = createRelyingParty();
});
afterAll(async () => {
  await Promise.all([providerA.close(), providerB.close()]);
});

describe("two providers", () => {
  it("have different issuers", () => {
    expect(providerA.issuer).not.toBe(providerB.issuer);
  });

  it("map the same sub to different subjects", async () => {
    const [a, b] = await Promise.all([signInThrough(rp, acme), signInThrough(rp, globex)]);
    expect(a.sub).toBe("alice");
    expect(b.sub).toBe("alice");
    expect(a.subject).toBe("oidc:acme:alice");
    expect(b.subject).toBe("oidc:globex:alice");
  });

  it("a bearer token from provider A is refused for domain B and accepted for A", async () => {
    const token = await obtainIdToken(providerA, "acme");
    expect(decodeJwt(token).iss).toBe(providerA.issuer);
    await expect(rp.verifier.verify(acme, token)).resolves.toMatchObject({ subject: "oidc:acme:alice" });
    // B's keys are looked up by B's issuer; A's kid is not among them.
    await expect(refusalOf(rp.verifier.verify(globex, token))).resolves.toMatchObject({ reason: "kid_unknown" });
  });

  it("a token is refused for a domain whose issuer differs from its iss only by a trailing slash", async () => {
    const token = await obtainIdToken(providerA, "acme");
    const trailingSlash: Domain = { ...acme, id: "lookalike", issuer: `${providerA.issuer}/` };
    await expect(refusalOf(rp.verifier.verify(trailingSlash, token))).resolves.toMatchObject({ reason: "iss_mismatch" });
  });

  it("a callback from provider A is refused when completed for domain B (issuer_mismatch)", async () => {
    const attempt = newLoginAttempt("acme");
    const callbackUrl = await driveSignIn(await rp.signIn.authorizationUrl(acme, attempt), { account: "alice", strength: "mfa" });
    await expect(refusalOf(rp.signIn.completeSignIn(globex, callbackUrl, attempt))).resolves.toMatchObject({ reason: "issuer_mismatch" });
  });
});
