import { CompactSign, exportSPKI, jwtVerify, SignJWT, type JWTPayload } from "jose";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Domain } from "../../../src/identity/domains/domain.ts";
import { IdTokenRejected } from "../../../src/identity/oidc/id-token.errors.ts";
import { createIdTokenVerifier, type OidcIdTokenVerifier } from "../../../src/identity/oidc/id-token-verifier.ts";
import { createJwksCache } from "../../../src/identity/oidc/jwks-cache.ts";
import { SignInRefused } from "../../../src/identity/sessions/sign-in-provider.ts";
import {
  DOMAIN_A,
  DOMAIN_B,
  FakeClock,
  FakeJwksEndpoint,
  jwksUriFor,
  jwksUriOf,
  NOW,
  rejectionReason,
  replaceSegment,
  signIdToken,
  signingKey,
  unsignedToken,
  validClaims,
  withTrailingBitSet,
  type SigningKey,
} from "./id-token-fixtures.ts";

const LEEWAY = 30;

let es256: SigningKey;
let rs256: SigningKey;
let es256Other: SigningKey;
let bravoKey: SigningKey;

beforeAll(async () => {
  [es256, rs256, es256Other, bravoKey] = await Promise.all([
    signingKey("ES256", "a-es"),
    signingKey("RS256", "a-rs"),
    signingKey("ES256", "a-es-2"),
    signingKey("ES256", "b-es"),
  ]);
});

describe("createIdTokenVerifier", () => {
  let clock: FakeClock;
  let endpoint: FakeJwksEndpoint;
  let verifier: OidcIdTokenVerifier;

  const tokenFor = (key: SigningKey, overrides: JWTPayload = {}, domain: Domain = DOMAIN_A) => signIdToken(key, validClaims(domain, overrides));
  const reasonFor = async (token: string | Promise<string>, domain: Domain = DOMAIN_A) => rejectionReason(verifier.verify(domain, await token));

  beforeEach(() => {
    clock = new FakeClock();
    endpoint = new FakeJwksEndpoint();
    endpoint.publish(jwksUriOf(DOMAIN_A.issuer), [es256, rs256]);
    endpoint.publish(jwksUriOf(DOMAIN_B.issuer), [bravoKey]);
    const jwks = createJwksCache({ fetchJwks: endpoint.fetchJwks, jwksUriFor, now: clock.now, minRefreshIntervalSeconds: 30 });
    verifier = createIdTokenVerifier({ jwks, leewaySeconds: LEEWAY, now: clock.now });
  });

  describe("accepts", () => {
    it.each(["ES256", "RS256"] as const)("a valid %s id_token and namespaces its subject by domain", async (alg) => {
      const key = alg === "ES256" ? es256 : rs256;
      await expect(verifier.verify(DOMAIN_A, await tokenFor(key))).resolves.toEqual({
        sub: "user-1",
        subject: "oidc:alpha:user-1",
        acr: "urn:custos:acr:mfa",
        amr: ["pwd", "otp"],
        authTime: NOW - 20,
      });
    });

    it("a token without acr, amr or auth_time, with amr defaulting to an empty list", async () => {
      const verified = await verifier.verify(DOMAIN_A, await tokenFor(es256, { acr: undefined, amr: undefined, auth_time: undefined }));
      expect(verified).toMatchObject({ acr: undefined, amr: [], authTime: undefined });
    });

    it("a token without kid when the provider publishes a single key for its alg", async () => {
      const token = await signIdToken(es256, validClaims(DOMAIN_A), { kid: undefined });
      expect((await verifier.verify(DOMAIN_A, token)).sub).toBe("user-1");
    });

    it("a token without kid when several keys match, by trying each candidate", async () => {
      endpoint.publish(jwksUriOf(DOMAIN_A.issuer), [es256Other, es256]);
      const token = await signIdToken(es256, validClaims(DOMAIN_A), { kid: undefined });
      expect((await verifier.verify(DOMAIN_A, token)).sub).toBe("user-1");
    });
  });

  describe("algorithm", () => {
    it("refuses alg none without looking up any key", async () => {
      expect(await reasonFor(unsignedToken(validClaims(DOMAIN_A)))).toBe("alg_not_allowed");
      expect(endpoint.fetched).toEqual([]);
    });

    it("refuses an HS256 token signed with the provider's RSA public key as the HMAC secret", async () => {
      const publicKeyBytes = new TextEncoder().encode(await exportSPKI(rs256.publicKey));
      const token = await new SignJWT(validClaims(DOMAIN_A)).setProtectedHeader({ alg: "HS256", kid: rs256.kid }).sign(publicKeyBytes);
      expect(await reasonFor(token)).toBe("alg_not_allowed");
      expect(endpoint.fetched).toEqual([]);
    });
  });

  describe("typ", () => {
    const withTyp = (typ: unknown) =>
      new SignJWT(validClaims(DOMAIN_A)).setProtectedHeader({ alg: "ES256", kid: es256.kid, ...(typ === undefined ? {} : { typ }) } as { alg: string }).sign(es256.privateKey);

    it.each([undefined, "JWT", "jwt", "application/jwt"])("accepts an id_token whose typ is %s", async (typ) => {
      expect((await verifier.verify(DOMAIN_A, await withTyp(typ))).sub).toBe("user-1");
    });

    it.each(["at+jwt", "application/at+jwt", "AT+JWT", "at+JWT", "logout+jwt", "dpop+jwt", "JWS", "JOSE", "application/jose", ""])(
      "refuses a correctly signed token whose typ is %j",
      async (typ) => {
        expect(await reasonFor(withTyp(typ))).toBe("typ_not_allowed");
      },
    );

    it("refuses a typ that is not a string as malformed", async () => {
      expect(await reasonFor(withTyp(1))).toBe("malformed");
    });
  });

  describe("canonical encoding", () => {
    /** A valid token whose header and payload segments both have unused trailing bits. */
    async function tokenWithRespellableSegments(): Promise<string> {
      for (let pad = 0; pad < 12; pad += 1) {
        const token = await new SignJWT(validClaims(DOMAIN_A, { pad: "x".repeat(pad) }))
          .setProtectedHeader({ alg: "ES256", kid: es256.kid, typ: "JWT", x: "y".repeat(pad) })
          .sign(es256.privateKey);
        if (token.split(".").every((segment) => segment.length % 4 !== 0)) return token;
      }
      throw new Error("no padding gave three re-spellable segments");
    }

    it("jose alone accepts a signature with non-zero trailing bits (which is why Custos checks the encoding)", async () => {
      const token = replaceSegment(await tokenFor(es256), 2, withTrailingBitSet);
      await expect(jwtVerify(token, es256.publicKey, { algorithms: ["ES256"], currentDate: new Date(NOW * 1000) })).resolves.toBeDefined();
    });

    it.each([
      ["header", 0],
      ["payload", 1],
      ["signature", 2],
    ] as const)("refuses a token whose %s segment is spelled with non-zero trailing bits", async (_segment, index) => {
      const token = await tokenWithRespellableSegments();
      expect((await verifier.verify(DOMAIN_A, token)).sub).toBe("user-1");
      expect(await reasonFor(replaceSegment(token, index, withTrailingBitSet))).toBe("malformed");
    });

    it.each([
      ["header", 0],
      ["payload", 1],
      ["signature", 2],
    ] as const)("refuses a token whose %s segment carries base64 padding", async (_segment, index) => {
      const token = await tokenWithRespellableSegments();
      expect(await reasonFor(replaceSegment(token, index, (segment) => `${segment}${"=".repeat((4 - (segment.length % 4)) % 4)}`))).toBe("malformed");
    });

    it("refuses a non-canonical token before looking up any key", async () => {
      const token = replaceSegment(await tokenFor(es256), 2, withTrailingBitSet);
      expect(await reasonFor(token)).toBe("malformed");
      expect(endpoint.fetched).toEqual([]);
    });
  });

  describe("signature and keys", () => {
    it("refuses a token whose payload was altered after signing", async () => {
      const [header, , signature] = (await tokenFor(es256)).split(".");
      const forged = Buffer.from(JSON.stringify(validClaims(DOMAIN_A, { sub: "admin" }))).toString("base64url");
      expect(await reasonFor(`${header!}.${forged}.${signature!}`)).toBe("signature_invalid");
    });

    it("refuses a token signed by a key the provider does not publish under that kid", async () => {
      expect(await reasonFor(signIdToken(es256Other, validClaims(DOMAIN_A), { kid: es256.kid }))).toBe("signature_invalid");
    });

    it("refuses an unknown kid after exactly one refresh", async () => {
      await verifier.verify(DOMAIN_A, await tokenFor(es256));
      clock.advance(31);
      expect(await reasonFor(tokenFor(es256Other))).toBe("kid_unknown");
      expect(endpoint.fetched).toHaveLength(2);
    });

    it("accepts a key the provider rotated in, after one refresh", async () => {
      await verifier.verify(DOMAIN_A, await tokenFor(es256));
      endpoint.publish(jwksUriOf(DOMAIN_A.issuer), [es256, es256Other]);
      clock.advance(31);
      expect((await verifier.verify(DOMAIN_A, await tokenFor(es256Other))).sub).toBe("user-1");
    });

    it("refuses a token signed with a key the provider removed from its JWKS, once refreshed", async () => {
      const before = await tokenFor(es256, { exp: NOW + 3600 });
      await verifier.verify(DOMAIN_A, before);
      endpoint.publish(jwksUriOf(DOMAIN_A.issuer), [rs256]);
      clock.advance(600);
      expect(await reasonFor(before)).toBe("kid_unknown");
    });

    it("makes no network call per request for a known kid", async () => {
      for (let i = 0; i < 20; i += 1) await verifier.verify(DOMAIN_A, await tokenFor(i % 2 === 0 ? es256 : rs256));
      expect(endpoint.fetched).toEqual([jwksUriOf(DOMAIN_A.issuer)]);
    });

    it("bounds the fetches a stream of unknown kids can cause", async () => {
      await verifier.verify(DOMAIN_A, await tokenFor(es256));
      clock.advance(31);
      const bogus = await Promise.all(Array.from({ length: 30 }, (_, i) => signIdToken(es256Other, validClaims(DOMAIN_A), { kid: `bogus-${i}` })));
      for (const token of bogus) expect(await reasonFor(token)).toBe("kid_unknown");
      expect(endpoint.fetched).toHaveLength(2);
    });

    it("refuses with jwks_unavailable when the provider's keys cannot be fetched", async () => {
      endpoint.failing = true;
      expect(await reasonFor(tokenFor(es256))).toBe("jwks_unavailable");
    });
  });

  describe("claims", () => {
    it("refuses a token whose exp is past the leeway", async () => {
      expect(await reasonFor(tokenFor(es256, { exp: NOW - LEEWAY }))).toBe("expired");
    });

    it("accepts a token whose exp passed within the leeway", async () => {
      expect((await verifier.verify(DOMAIN_A, await tokenFor(es256, { exp: NOW - LEEWAY + 1 }))).sub).toBe("user-1");
    });

    it("refuses a token whose nbf is in the future beyond the leeway", async () => {
      expect(await reasonFor(tokenFor(es256, { nbf: NOW + LEEWAY + 1 }))).toBe("not_yet_valid");
    });

    it("refuses a token whose iat is in the future beyond the leeway", async () => {
      expect(await reasonFor(tokenFor(es256, { iat: NOW + LEEWAY + 1 }))).toBe("issued_in_future");
    });

    it("refuses a token whose auth_time is in the future beyond the leeway", async () => {
      expect(await reasonFor(tokenFor(es256, { auth_time: NOW + LEEWAY + 1 }))).toBe("auth_time_in_future");
    });

    it("refuses a token from another issuer", async () => {
      expect(await reasonFor(tokenFor(es256, { iss: "https://alpha.idp.example.evil" }))).toBe("iss_mismatch");
    });

    it("refuses a token whose aud does not contain the client id", async () => {
      expect(await reasonFor(tokenFor(es256, { aud: "some-other-app" }))).toBe("aud_mismatch");
    });

    it("refuses several audiences with a missing or foreign azp", async () => {
      expect(await reasonFor(tokenFor(es256, { aud: [DOMAIN_A.clientId, "api"] }))).toBe("azp_missing");
      expect(await reasonFor(tokenFor(es256, { aud: [DOMAIN_A.clientId, "api"], azp: "api" }))).toBe("azp_mismatch");
    });

    it("refuses a token without sub", async () => {
      expect(await reasonFor(tokenFor(es256, { sub: undefined }))).toBe("sub_missing");
    });

    it.each(["alice\u0000", "alice\nadmin", "\u001b[31malice", "alice\u007f", "alice\u0085", "alice\ud800"])("refuses a correctly signed token whose sub is %j", async (sub) => {
      expect(await reasonFor(tokenFor(es256, { sub }))).toBe("sub_invalid");
    });

    it("accepts a sub of 255 characters and refuses one of 256", async () => {
      expect((await verifier.verify(DOMAIN_A, await tokenFor(es256, { sub: "s".repeat(255) }))).sub).toHaveLength(255);
      expect(await reasonFor(tokenFor(es256, { sub: "s".repeat(256) }))).toBe("sub_invalid");
    });

    it("checks the nonce when the browser callback expects one", async () => {
      const token = await tokenFor(es256, { nonce: "n-1" });
      expect(await rejectionReason(verifier.verify(DOMAIN_A, token, { nonce: "n-2" }))).toBe("nonce_mismatch");
      expect((await verifier.verify(DOMAIN_A, token, { nonce: "n-1" })).sub).toBe("user-1");
    });
  });

  describe("domains", () => {
    it("refuses a token for domain A presented to domain B", async () => {
      const tokenForA = await tokenFor(es256);
      expect((await verifier.verify(DOMAIN_A, tokenForA)).subject).toBe("oidc:alpha:user-1");
      expect(await reasonFor(tokenForA, DOMAIN_B)).toBe("kid_unknown");
    });

    it("refuses a token for domain A presented to domain B even when B's provider publishes A's key", async () => {
      endpoint.publish(jwksUriOf(DOMAIN_B.issuer), [bravoKey, es256]);
      expect(await reasonFor(tokenFor(es256), DOMAIN_B)).toBe("iss_mismatch");
    });

    it("namespaces the same sub differently per domain", async () => {
      const a = await verifier.verify(DOMAIN_A, await tokenFor(es256));
      const b = await verifier.verify(DOMAIN_B, await tokenFor(bravoKey, {}, DOMAIN_B));
      expect([a.subject, b.subject]).toEqual(["oidc:alpha:user-1", "oidc:bravo:user-1"]);
    });
  });

  describe("input", () => {
    it.each(["", "not-a-jwt", "a.b.c", "bm90IGpzb24.e30.c2ln"])("refuses %j as malformed", async (token) => {
      expect(await reasonFor(token)).toBe("malformed");
    });

    it("refuses a correctly signed payload that is not a JSON object", async () => {
      const token = await new CompactSign(new TextEncoder().encode("[1]")).setProtectedHeader({ alg: "ES256", kid: es256.kid }).sign(es256.privateKey);
      expect(await reasonFor(token)).toBe("malformed");
    });

    it("rejects with an IdTokenRejected that the admin authentication path recognises as a SignInRefused", async () => {
      const error = await verifier.verify(DOMAIN_A, unsignedToken(validClaims(DOMAIN_A))).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(IdTokenRejected);
      expect(error).toBeInstanceOf(SignInRefused);
      expect((error as SignInRefused).reason).toBe("alg_not_allowed");
    });
  });

  it("refuses to start with a leeway above 120 seconds or below zero", () => {
    const jwks = createJwksCache({ fetchJwks: endpoint.fetchJwks, jwksUriFor, now: clock.now });
    expect(() => createIdTokenVerifier({ jwks, leewaySeconds: 121, now: clock.now })).toThrow(RangeError);
    expect(() => createIdTokenVerifier({ jwks, leewaySeconds: -1, now: clock.now })).toThrow(RangeError);
    expect(() => createIdTokenVerifier({ jwks, leewaySeconds: 120, now: clock.now })).not.toThrow();
  });
});
