import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  checkRotationProof, newRotationRequestBody, openNewNsk, parseRotationRequest, rotationProofMessage, sealNewNsk, type RotationRequest,
} from "../../src/nodes/nsk-rotation.ts";
import { deriveBearerSecret, deriveRotationProofKey, deriveWrapKey, newNsk } from "../../src/nodes/nsk.ts";
import { CustosError } from "../../src/platform/errors.ts";

/** RFC 5869 by hand (extract with an all-zero salt, one expand block), to check the derivation. */
function rfc5869(ikm: Buffer, info: string): Buffer {
  const prk = createHmac("sha256", Buffer.alloc(32)).update(ikm).digest();
  return createHmac("sha256", prk).update(Buffer.concat([Buffer.from(info), Buffer.from([1])])).digest();
}

const NODE_ID = "0b5c3a8e-3d0f-4b8e-9a41-7f0c2a1d9e55";
const KID = "kid-current-1";
const NOW = 1_764_460_000;

function requestFrom(body: { timestamp: number; nonce: string; proof: string }): RotationRequest {
  const parsed = parseRotationRequest(body);
  if (parsed === undefined) throw new Error("no proof");
  return parsed;
}

describe("the NSK rotation proof", () => {
  const nsk = Buffer.from("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "hex");
  const wrapKey = deriveWrapKey(nsk);

  it("derives the proof key from the wrap key with HKDF-SHA256, empty salt, info custos/v1/rotate", () => {
    expect(deriveRotationProofKey(wrapKey)).toEqual(rfc5869(wrapKey, "custos/v1/rotate"));
    // The bearer, which is what a log may leak, is an independent derivation of the NSK.
    expect(deriveRotationProofKey(wrapKey)).not.toEqual(deriveBearerSecret(nsk));
    expect(deriveRotationProofKey(wrapKey)).not.toEqual(deriveRotationProofKey(deriveBearerSecret(nsk)));
  });

  it("MACs method, path, node, kid, timestamp and nonce, one per line", () => {
    expect(rotationProofMessage(NODE_ID, KID, NOW, "n".repeat(22))).toBe(
      `custos/v1/rotate\nPOST\n/v1/nodes/${NODE_ID}/nsk/rotate\n${NODE_ID}\n${KID}\n${String(NOW)}\n${"n".repeat(22)}`,
    );
  });

  it("accepts the request the node side builds, with its own clock up to 60 s off either way", () => {
    for (const skew of [-60, 0, 60]) {
      const request = requestFrom(newRotationRequestBody(wrapKey, NODE_ID, KID, NOW + skew));
      expect(checkRotationProof(request, { wrapKey, nodeId: NODE_ID, kid: KID, now: NOW })).toBeUndefined();
    }
  });

  it("refuses a timestamp more than 60 s away as stale, even with a right MAC", () => {
    for (const skew of [-61, 61, -86_400]) {
      const request = requestFrom(newRotationRequestBody(wrapKey, NODE_ID, KID, NOW + skew));
      expect(checkRotationProof(request, { wrapKey, nodeId: NODE_ID, kid: KID, now: NOW })).toBe("proof_stale");
    }
  });

  it("refuses a MAC made with another key, for another node or kid, or over a changed field", () => {
    const otherWrapKey = deriveWrapKey(newNsk());
    const forged = requestFrom(newRotationRequestBody(otherWrapKey, NODE_ID, KID, NOW));
    const bearerKeyed = requestFrom(newRotationRequestBody(deriveBearerSecret(nsk), NODE_ID, KID, NOW));
    const good = newRotationRequestBody(wrapKey, NODE_ID, KID, NOW);
    const expected = { wrapKey, nodeId: NODE_ID, kid: KID, now: NOW };
    expect(checkRotationProof(forged, expected)).toBe("proof_mismatch");
    expect(checkRotationProof(bearerKeyed, expected)).toBe("proof_mismatch");
    expect(checkRotationProof(requestFrom(good), { ...expected, kid: "kid-other-22" })).toBe("proof_mismatch");
    expect(checkRotationProof(requestFrom(good), { ...expected, nodeId: "00000000-0000-4000-8000-000000000001" })).toBe("proof_mismatch");
    expect(checkRotationProof(requestFrom({ ...good, timestamp: NOW + 1 }), expected)).toBe("proof_mismatch");
    expect(checkRotationProof(requestFrom({ ...good, nonce: "x".repeat(32) }), expected)).toBe("proof_mismatch");
  });

  it("reads a body without proof (or no body) as a bearer-only request, and refuses malformed members", () => {
    expect(parseRotationRequest(undefined)).toBeUndefined();
    expect(parseRotationRequest({})).toBeUndefined();
    const good = newRotationRequestBody(wrapKey, NODE_ID, KID, NOW);
    for (const body of [
      { ...good, timestamp: "1764460000" },
      { ...good, timestamp: 1.5 },
      { ...good, nonce: "short" },
      { ...good, proof: "A".repeat(42) },
      { ...good, proof: `${"A".repeat(42)}B` }, // sets bits beyond 256
      { ...good, extra: 1 },
      [],
    ]) {
      expect(() => parseRotationRequest(body), JSON.stringify(body)).toThrow(CustosError);
    }
  });

  it("seals the new NSK to the current wrap key only, labelled with both kids", async () => {
    const next = newNsk();
    const jwe = await sealNewNsk(next, wrapKey, KID, "kid-next-0001");
    expect(jwe).not.toContain(next.toString("base64url"));
    expect(await openNewNsk(jwe, wrapKey, KID, "kid-next-0001")).toEqual(next);
    await expect(openNewNsk(jwe, deriveWrapKey(newNsk()), KID, "kid-next-0001")).rejects.toThrow();
    await expect(openNewNsk(jwe, wrapKey, KID, "kid-swapped-01")).rejects.toThrow("not a new NSK");
  });
});
