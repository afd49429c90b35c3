import { createHmac, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  EventRefused, verifyEventEnvelope, type CandidateJwk, type EventPublicJwk, type EventRefusalCode, type EventVerificationContext,
} from "../../src/agent/event-envelope.ts";

const NODE_ID = "0b5c3a8e-3d0f-4b8e-9a41-7f0c2a1d9e55";
const OTHER_NODE = "1c6d4b9f-4e1a-4c9f-8b52-8a1d3b2eaf66";
const DOMAIN = "acme";
const NOW = 1_764_460_000;
const LEEWAY = 30;

interface TestKey {
  readonly privateKey: KeyObject;
  readonly jwk: EventPublicJwk;
}

function eventKey(kid: string): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const { x } = publicKey.export({ format: "jwk" });
  return { privateKey, jwk: { kty: "OKP", crv: "Ed25519", x: x ?? "", kid, alg: "EdDSA", use: "sig", custos_use: "event" } };
}

const part = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/** A compact JWS with exactly the header and claims given, signed with Ed25519 by `key`. */
function envelope(key: TestKey, header: Record<string, unknown>, claims: Record<string, unknown> | string): string {
  const input = `${part(header)}.${part(claims)}`;
  return `${input}.${sign(null, Buffer.from(input), key.privateKey).toString("base64url")}`;
}

const pinned = eventKey("event-key-1");
const headerOf = (key: TestKey = pinned) => ({ alg: "EdDSA", typ: "custos-event+jwt", kid: key.jwk.kid });
const claimsOf = (overrides: Record<string, unknown> = {}) => ({
  iss: `urn:custos:domain:${DOMAIN}`,
  aud: `node:${NODE_ID}`,
  jti: randomBytes(16).toString("base64url"),
  iat: NOW,
  exp: NOW + 60,
  type: "secret.updated",
  data: { name: "db-password", version: 3 },
  ...overrides,
});

function context(overrides: Partial<EventVerificationContext> = {}): EventVerificationContext {
  return { keys: [pinned.jwk], domain: DOMAIN, nodeId: NODE_ID, now: NOW, leewaySeconds: LEEWAY, seen: () => false, ...overrides };
}

function refusalOf(jws: string, ctx: EventVerificationContext = context()): EventRefusalCode {
  try {
    verifyEventEnvelope(jws, ctx);
  } catch (error) {
    if (error instanceof EventRefused) return error.code;
    throw error;
  }
  throw new Error("the envelope was accepted");
}

describe("verifyEventEnvelope()", () => {
  it("accepts an envelope signed by a pinned event key for this node, and returns its type, data, jti and times", () => {
    const claims = claimsOf();
    const event = verifyEventEnvelope(envelope(pinned, headerOf(), claims), context());
    expect(event).toEqual({ type: "secret.updated", data: { name: "db-password", version: 3 }, jti: claims.jti, iat: NOW, exp: NOW + 60, kid: "event-key-1" });
  });

  it("refuses an unsigned envelope (alg none, empty signature) with event_alg_refused", () => {
    const jws = `${part({ alg: "none", typ: "custos-event+jwt", kid: "event-key-1" })}.${part(claimsOf())}.`;
    expect(refusalOf(jws)).toBe("event_malformed");
    expect(refusalOf(`${jws}AA`)).toBe("event_alg_refused");
  });

  it("refuses alg HS256 keyed with the pinned public key, and ES256, with event_alg_refused", () => {
    const input = `${part({ ...headerOf(), alg: "HS256" })}.${part(claimsOf())}`;
    const hs256 = `${input}.${createHmac("sha256", Buffer.from(pinned.jwk.x, "base64url")).update(input).digest("base64url")}`;
    expect(refusalOf(hs256)).toBe("event_alg_refused");
    expect(refusalOf(envelope(pinned, { ...headerOf(), alg: "ES256" }, claimsOf()))).toBe("event_alg_refused");
  });

  it("refuses a typ other than custos-event+jwt (a grant's, or none) with event_typ_refused", () => {
    expect(refusalOf(envelope(pinned, { ...headerOf(), typ: "custos-grant+jwt" }, claimsOf()))).toBe("event_typ_refused");
    expect(refusalOf(envelope(pinned, { alg: "EdDSA", kid: "event-key-1" }, claimsOf()))).toBe("event_typ_refused");
  });

  it("refuses a kid no pinned key has with event_unknown_key", () => {
    const stranger = eventKey("event-key-2");
    expect(refusalOf(envelope(stranger, headerOf(stranger), claimsOf()))).toBe("event_unknown_key");
  });

  it("refuses a pinned key whose custos_use is grant, though its kid matches, with event_unknown_key", () => {
    const grantKey: CandidateJwk = { ...pinned.jwk, custos_use: "grant" };
    expect(refusalOf(envelope(pinned, headerOf(), claimsOf()), context({ keys: [grantKey] }))).toBe("event_unknown_key");
  });

  it("refuses an envelope signed by another key under a pinned kid with event_signature_invalid", () => {
    const impostor = eventKey("event-key-1");
    expect(refusalOf(envelope(impostor, headerOf(), claimsOf()))).toBe("event_signature_invalid");
  });

  it("refuses claims altered after signing with event_signature_invalid", () => {
    const [header, , signature] = envelope(pinned, headerOf(), claimsOf()).split(".");
    const forged = `${header ?? ""}.${part(claimsOf({ data: { name: "db-password", version: 99 } }))}.${signature ?? ""}`;
    expect(refusalOf(forged)).toBe("event_signature_invalid");
  });

  it("refuses another domain's issuer with event_wrong_issuer", () => {
    expect(refusalOf(envelope(pinned, headerOf(), claimsOf({ iss: "urn:custos:domain:other" })))).toBe("event_wrong_issuer");
  });

  it("refuses another node's audience (or an array) with event_wrong_audience", () => {
    expect(refusalOf(envelope(pinned, headerOf(), claimsOf({ aud: `node:${OTHER_NODE}` })))).toBe("event_wrong_audience");
    expect(refusalOf(envelope(pinned, headerOf(), claimsOf({ aud: [`node:${NODE_ID}`] })))).toBe("event_wrong_audience");
  });

  it("accepts iat up to the leeway in the future, and refuses one second more with event_not_yet_valid", () => {
    expect(verifyEventEnvelope(envelope(pinned, headerOf(), claimsOf({ iat: NOW + LEEWAY, exp: NOW + LEEWAY + 60 })), context()).iat).toBe(NOW + LEEWAY);
    expect(refusalOf(envelope(pinned, headerOf(), claimsOf({ iat: NOW + LEEWAY + 1, exp: NOW + LEEWAY + 61 })))).toBe("event_not_yet_valid");
  });

  it("refuses an iat older than the longest lifetime plus the leeway with event_stale, and a lifetime beyond 300 s", () => {
    expect(refusalOf(envelope(pinned, headerOf(), claimsOf({ iat: NOW - 300 - LEEWAY - 1, exp: NOW - LEEWAY - 1 })))).toBe("event_stale");
    expect(refusalOf(envelope(pinned, headerOf(), claimsOf({ iat: NOW, exp: NOW + 301 })))).toBe("event_stale");
  });

  it("accepts exp within the leeway, and refuses at exp + leeway with event_expired", () => {
    expect(verifyEventEnvelope(envelope(pinned, headerOf(), claimsOf({ iat: NOW - 60, exp: NOW - LEEWAY + 1 })), context()).exp).toBe(NOW - LEEWAY + 1);
    expect(refusalOf(envelope(pinned, headerOf(), claimsOf({ iat: NOW - 60, exp: NOW - LEEWAY })))).toBe("event_expired");
  });

  it("refuses a jti the replay cache has seen with event_replayed", () => {
    const claims = claimsOf();
    const jws = envelope(pinned, headerOf(), claims);
    expect(refusalOf(jws, context({ seen: (jti) => jti === claims.jti }))).toBe("event_replayed");
  });

  it("refuses a type this agent does not know with event_unknown_type", () => {
    expect(refusalOf(envelope(pinned, headerOf(), claimsOf({ type: "node.reboot", data: {} })))).toBe("event_unknown_type");
  });

  it("refuses malformed envelopes and data with event_malformed", () => {
    const cases: string[] = [
      "not-a-jws",
      `${part(headerOf())}.${part(claimsOf())}`,
      envelope(pinned, { ...headerOf(), jku: "https://evil.example/jwks" }, claimsOf()),
      envelope(pinned, headerOf(), "not json"),
      envelope(pinned, headerOf(), { ...claimsOf(), extra: true }),
      envelope(pinned, headerOf(), claimsOf({ jti: "short" })),
      envelope(pinned, headerOf(), claimsOf({ iat: NOW + 0.5 })),
      envelope(pinned, headerOf(), claimsOf({ data: { name: "../etc/passwd", version: 1 } })),
      envelope(pinned, headerOf(), claimsOf({ data: { name: "db-password", version: 0 } })),
      envelope(pinned, headerOf(), claimsOf({ type: "secret.revoked", data: { name: "db-password", more: 1 } })),
      envelope(pinned, headerOf(), claimsOf({ type: "keys.rotated", data: { keys: [{ ...pinned.jwk, custos_use: "grant" }] } })),
      envelope(pinned, headerOf(), claimsOf({ type: "node.quarantined", data: { reason: "x" } })),
    ];
    for (const jws of cases) expect(refusalOf(jws), jws.slice(0, 40)).toBe("event_malformed");
  });

  it("refuses a non-canonical base64url spelling of the signature with event_malformed", () => {
    const [header, payload, signature = ""] = envelope(pinned, headerOf(), claimsOf()).split(".");
    // The last character of a 64-byte signature carries 4 unused bits: flipping one keeps the bytes, not the spelling.
    const last = signature.at(-1) ?? "A";
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const sibling = alphabet[alphabet.indexOf(last) ^ 1] ?? "A";
    const respelled = `${header ?? ""}.${payload ?? ""}.${signature.slice(0, -1)}${sibling}`;
    expect(refusalOf(respelled)).toBe("event_malformed");
  });

  it("returns keys.rotated, grant.issued and the empty-data types with their data", () => {
    const next = eventKey("event-key-2");
    expect(verifyEventEnvelope(envelope(pinned, headerOf(), claimsOf({ type: "keys.rotated", data: { keys: [pinned.jwk, next.jwk] } })), context()))
      .toMatchObject({ type: "keys.rotated", data: { keys: [pinned.jwk, next.jwk] } });
    expect(verifyEventEnvelope(envelope(pinned, headerOf(), claimsOf({ type: "nsk.rotate_requested", data: {} })), context())).toMatchObject({ type: "nsk.rotate_requested", data: {} });
    const grant = { grant: "a.b.c", jti: "g1", expires_at: "2026-11-30T10:00:00Z" };
    expect(verifyEventEnvelope(envelope(pinned, headerOf(), claimsOf({ type: "grant.issued", data: grant })), context())).toMatchObject({ type: "grant.issued", data: grant });
  });
});
