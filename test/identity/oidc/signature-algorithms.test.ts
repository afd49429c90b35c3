import { constants, generateKeyPairSync, sign } from "node:crypto";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { ALLOWED_ID_TOKEN_ALGORITHMS } from "../../../src/identity/oidc/id-token-claims.ts";
import { createIdTokenVerifier } from "../../../src/identity/oidc/id-token-verifier.ts";
import { createJwksCache } from "../../../src/identity/oidc/jwks-cache.ts";
import { DOMAIN_A, FakeClock, FakeJwksEndpoint, jwksUriFor, jwksUriOf, rejectionReason, replaceSegment, validClaims, withTrailingBitSet } from "./id-token-fixtures.ts";

/** Every allowed algorithm verifies through jose, against a key from the JWKS cache. */
describe.each(ALLOWED_ID_TOKEN_ALGORITHMS)("signatures with %s", (alg) => {
  async function setup() {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const endpoint = new FakeJwksEndpoint();
    endpoint.keysByUri.set(jwksUriOf(DOMAIN_A.issuer), [{ ...(await exportJWK(publicKey)), kid: "k1", alg, use: "sig" }]);
    const clock = new FakeClock();
    const verifier = createIdTokenVerifier({ jwks: createJwksCache({ fetchJwks: endpoint.fetchJwks, jwksUriFor, now: clock.now }), leewaySeconds: 30, now: clock.now });
    const token = await new SignJWT(validClaims(DOMAIN_A)).setProtectedHeader({ alg, kid: "k1" }).sign(privateKey);
    return { verifier, token };
  }

  it("accepts a valid signature", async () => {
    const { verifier, token } = await setup();
    await expect(verifier.verify(DOMAIN_A, token)).resolves.toMatchObject({ subject: "oidc:alpha:user-1" });
  });

  it("refuses a signature with one bit flipped, and a payload changed under it", async () => {
    const { verifier, token } = await setup();
    const [header = "", payload = "", signature = ""] = token.split(".");
    const bytes = Buffer.from(signature, "base64url");
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    expect(await rejectionReason(verifier.verify(DOMAIN_A, `${header}.${payload}.${bytes.toString("base64url")}`))).toBe("signature_invalid");
    const forged = Buffer.from(JSON.stringify({ ...validClaims(DOMAIN_A), sub: "admin" })).toString("base64url");
    expect(await rejectionReason(verifier.verify(DOMAIN_A, `${header}.${forged}.${signature}`))).toBe("signature_invalid");
  });

  it("refuses the valid signature spelled non-canonically (trailing bits where it has any, padding otherwise)", async () => {
    const { verifier, token } = await setup();
    const respell = (segment: string): string => (segment.length % 4 === 0 ? `${segment}==` : withTrailingBitSet(segment));
    expect(await rejectionReason(verifier.verify(DOMAIN_A, replaceSegment(token, 2, respell)))).toBe("malformed");
  });
});

describe("JWS header extensions", () => {
  it("refuses a token that marks a header parameter critical, which this verifier does not understand", async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const endpoint = new FakeJwksEndpoint();
    endpoint.keysByUri.set(jwksUriOf(DOMAIN_A.issuer), [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" }]);
    const clock = new FakeClock();
    const verifier = createIdTokenVerifier({ jwks: createJwksCache({ fetchJwks: endpoint.fetchJwks, jwksUriFor, now: clock.now }), leewaySeconds: 30, now: clock.now });
    const token = await new SignJWT(validClaims(DOMAIN_A))
      .setProtectedHeader({ alg: "ES256", kid: "k1", crit: ["exp-ext"], "exp-ext": true })
      .sign(privateKey, { crit: { "exp-ext": true } });
    expect(await rejectionReason(verifier.verify(DOMAIN_A, token))).toBe("malformed");
  });
});

describe("keys the provider should not have published", () => {
  it.each(["RS256", "PS256"] as const)("refuses a %s token verified by a 1024-bit RSA key as jwks_unavailable, not as an internal error", async (alg) => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const endpoint = new FakeJwksEndpoint();
    endpoint.keysByUri.set(jwksUriOf(DOMAIN_A.issuer), [{ ...(await exportJWK(publicKey)), kid: "weak", alg }]);
    const clock = new FakeClock();
    const verifier = createIdTokenVerifier({ jwks: createJwksCache({ fetchJwks: endpoint.fetchJwks, jwksUriFor, now: clock.now }), leewaySeconds: 30, now: clock.now });
    // jose refuses to sign with such a key as well, so the signature is made with node:crypto.
    const header = Buffer.from(JSON.stringify({ alg, kid: "weak" })).toString("base64url");
    const payload = Buffer.from(JSON.stringify(validClaims(DOMAIN_A))).toString("base64url");
    const signature = sign("sha256", Buffer.from(`${header}.${payload}`), alg === "PS256" ? { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : privateKey);
    expect(await rejectionReason(verifier.verify(DOMAIN_A, `${header}.${payload}.${signature.toString("base64url")}`))).toBe("jwks_unavailable");
  });
});
