import { generateKeyPairSync } from "node:crypto";
import { compactVerify, decodeProtectedHeader, exportJWK, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { envelopeTypeOf, newEventJti, signEventEnvelope, type EventSigningKey } from "../../src/events/event-envelope.ts";

const NOW = 1_800_000_000;
const NODE = "0b6f1c2e-5a4d-4e8f-9c3b-1d2e3f4a5b6c";

function eventKey(kid = "event-kid-1"): EventSigningKey & { publicKey: ReturnType<typeof generateKeyPairSync>["publicKey"] } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { kid, privateKey, publicKey };
}

describe("signEventEnvelope", () => {
  it("signs the contract exactly: header { alg, typ, kid }, iss, aud, jti, iat, exp = iat + ttl, type, data", async () => {
    const key = eventKey();
    const jti = newEventJti();
    const jws = await signEventEnvelope({ key, domain: "acme", nodeId: NODE, event: { type: "secret.updated", data: { name: "db", version: 3 } }, issuedAt: NOW, ttlSeconds: 60, jti });
    expect(decodeProtectedHeader(jws)).toEqual({ alg: "EdDSA", typ: "custos-event+jwt", kid: "event-kid-1" });
    const { payload } = await jwtVerify(jws, key.publicKey, {
      typ: "custos-event+jwt", algorithms: ["EdDSA"], issuer: "urn:custos:domain:acme", audience: `node:${NODE}`, currentDate: new Date((NOW + 59) * 1000),
    });
    expect(payload).toEqual({ iss: "urn:custos:domain:acme", aud: `node:${NODE}`, jti, iat: NOW, exp: NOW + 60, type: "secret.updated", data: { name: "db", version: 3 } });
  });

  it("expires at iat + ttl: a verifier at exp refuses it", async () => {
    const key = eventKey();
    const jws = await signEventEnvelope({ key, domain: "acme", nodeId: NODE, event: { type: "node.released", data: {} }, issuedAt: NOW, ttlSeconds: 10, jti: newEventJti() });
    await expect(jwtVerify(jws, key.publicKey, { currentDate: new Date((NOW + 10) * 1000) })).rejects.toMatchObject({ code: "ERR_JWT_EXPIRED" });
  });

  it("does not verify under another key (another domain's, or a grant key)", async () => {
    const jws = await signEventEnvelope({ key: eventKey(), domain: "acme", nodeId: NODE, event: { type: "node.quarantined", data: {} }, issuedAt: NOW, ttlSeconds: 60, jti: newEventJti() });
    await expect(compactVerify(jws, eventKey().publicKey)).rejects.toMatchObject({ code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" });
  });

  it("carries keys.rotated's public JWKs as data", async () => {
    const key = eventKey();
    const jwk = { ...(await exportJWK(key.publicKey)), kid: "next", alg: "EdDSA", use: "sig", custos_use: "event" as const };
    const jws = await signEventEnvelope({ key, domain: "acme", nodeId: NODE, event: { type: "keys.rotated", data: { keys: [jwk] } }, issuedAt: NOW, ttlSeconds: 60, jti: newEventJti() });
    const { payload } = await compactVerify(jws, key.publicKey);
    expect(JSON.parse(new TextDecoder().decode(payload))).toMatchObject({ type: "keys.rotated", data: { keys: [jwk] } });
  });
});

describe("newEventJti and envelopeTypeOf", () => {
  it("makes 128-bit base64url jtis (22 characters), never the same twice", () => {
    const jtis = new Set(Array.from({ length: 1000 }, () => newEventJti()));
    expect(jtis.size).toBe(1000);
    for (const jti of jtis) expect(jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it("reads the type claim, and nothing from what is not a JWS", async () => {
    const jws = await signEventEnvelope({ key: eventKey(), domain: "acme", nodeId: NODE, event: { type: "node.quarantined", data: {} }, issuedAt: NOW, ttlSeconds: 60, jti: newEventJti() });
    expect(envelopeTypeOf(jws)).toBe("node.quarantined");
    expect(envelopeTypeOf("not-a-jws")).toBeUndefined();
    expect(envelopeTypeOf("a.%%%.c")).toBeUndefined();
  });
});
