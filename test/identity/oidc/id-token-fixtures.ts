import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JSONWebKeySet, type JWK, type JWTPayload } from "jose";
import type { Domain } from "../../../src/identity/domains/domain.ts";
import { IdTokenRejected, type IdTokenRejectionReason } from "../../../src/identity/oidc/id-token.errors.ts";

/** A fixed instant (seconds): every time in these tests is relative to it. */
export const NOW = 1_750_000_000;

export const DOMAIN_A: Domain = {
  id: "alpha",
  issuer: "https://alpha.idp.example",
  clientId: "custos-alpha",
  admins: [],
  auditors: [],
};

export const DOMAIN_B: Domain = {
  id: "bravo",
  issuer: "https://bravo.idp.example/realms/bravo",
  clientId: "custos-bravo",
  admins: [],
  auditors: [],
};

export interface SigningKey {
  readonly kid: string;
  readonly alg: "ES256" | "RS256";
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
}

export async function signingKey(alg: "ES256" | "RS256", kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { kid, alg, privateKey, publicKey, publicJwk };
}

/** Claims of a token that passes every check for `domain` at NOW. */
export function validClaims(domain: Domain, overrides: JWTPayload = {}): JWTPayload {
  return {
    iss: domain.issuer,
    aud: domain.clientId,
    sub: "user-1",
    iat: NOW - 10,
    exp: NOW + 300,
    auth_time: NOW - 20,
    acr: "urn:custos:acr:mfa",
    amr: ["pwd", "otp"],
    ...overrides,
  };
}

export async function signIdToken(key: SigningKey, claims: JWTPayload, header: { kid?: string | undefined } = { kid: key.kid }): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, typ: "JWT", ...header }).sign(key.privateKey);
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** An `alg: none` token, built by hand: jose refuses to produce one through SignJWT. */
export function unsignedToken(claims: JWTPayload): string {
  return `${base64url({ alg: "none", typ: "JWT" })}.${base64url(claims)}.`;
}

/** A settable clock in seconds. */
export class FakeClock {
  constructor(public current: number = NOW) {}
  readonly now = (): number => this.current;
  advance(seconds: number): void {
    this.current += seconds;
  }
}

/**
 * The provider side of JWKS: a key set per URI that tests edit, and a count of every fetch.
 * `hold()` makes fetches wait until `release()`, to prove that concurrent refreshes coalesce.
 */
export class FakeJwksEndpoint {
  readonly keysByUri = new Map<string, JWK[]>();
  readonly fetched: string[] = [];
  failing = false;
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  publish(uri: string, keys: readonly SigningKey[]): void {
    this.keysByUri.set(uri, keys.map((key) => key.publicJwk));
  }

  hold(): void {
    this.gate = new Promise((resolve) => {
      this.open = resolve;
    });
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  readonly fetchJwks = async (uri: string): Promise<JSONWebKeySet> => {
    this.fetched.push(uri);
    if (this.gate !== undefined) await this.gate;
    if (this.failing) throw new Error("provider unavailable");
    return { keys: [...(this.keysByUri.get(uri) ?? [])] };
  };
}

export const jwksUriOf = (issuer: string): string => `${issuer}/jwks`;
export const jwksUriFor = (issuer: string): Promise<string> => Promise.resolve(jwksUriOf(issuer));

/** The reason a promise rejected with; fails the test when it resolves or throws something else. */
export async function rejectionReason(promise: Promise<unknown>): Promise<IdTokenRejectionReason> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof IdTokenRejected) return error.reason;
    throw error;
  }
  throw new Error("expected an IdTokenRejected, but the token was accepted");
}

const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * The same bytes as `segment`, spelled non-canonically: the lowest of the unused trailing bits of
 * its last character set. Only segments whose length is not a multiple of 4 have such bits.
 */
export function withTrailingBitSet(segment: string): string {
  if (segment.length % 4 === 0) throw new Error("a segment whose length is a multiple of 4 has no unused bits");
  const last = BASE64URL_ALPHABET.indexOf(segment.slice(-1));
  const spelled = `${segment.slice(0, -1)}${BASE64URL_ALPHABET.charAt(last | 1)}`;
  if (spelled === segment || !Buffer.from(spelled, "base64url").equals(Buffer.from(segment, "base64url"))) throw new Error("not a re-spelling");
  return spelled;
}

/** Replaces segment `index` (0 header, 1 payload, 2 signature) of a compact JWS. */
export function replaceSegment(token: string, index: 0 | 1 | 2, replace: (segment: string) => string): string {
  const segments = token.split(".");
  segments[index] = replace(segments[index] ?? "");
  return segments.join(".");
}
