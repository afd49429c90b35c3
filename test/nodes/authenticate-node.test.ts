import { describe, expect, it } from "vitest";
import type { AuditEventInput } from "../../src/audit/audit-port.ts";
import type { UnverifiedRefusal } from "../../src/audit/denial-recorder.ts";
import { authenticateNode, type AuthenticateNodeDependencies, type NodeCallCredentials } from "../../src/nodes/authenticate-node.ts";
import type { NodeKeyRecord } from "../../src/nodes/node-repo.ts";
import { bearerSecretDigest, deriveBearerSecret, formatNodeBearer, newKid, newNsk } from "../../src/nodes/nsk.ts";

const NODE_ID = "0b6f1c2e-5a4d-4e8f-9c3b-1d2e3f4a5b6c";
const OTHER_NODE = "1c7a2d3f-6b5e-4f90-8d4c-2e3f4a5b6c7d";
const NOW = 1_800_000_000;
const nsk = newNsk();
const kid = newKid();
const secret = deriveBearerSecret(nsk);
const BEARER = formatNodeBearer(kid, secret);

function keyRecord(overrides: Partial<NodeKeyRecord> = {}): NodeKeyRecord {
  return {
    kid, nodeId: NODE_ID, bearerSecretSha256: bearerSecretDigest(secret), wrappedWrapKey: "wrapped", retiresAt: undefined,
    node: { id: NODE_ID, domain: "acme", name: "web-1", status: "active" }, ...overrides,
  };
}

/** The node repository and denial recorder as in-memory fakes that keep what was recorded. */
function fakes(key: NodeKeyRecord = keyRecord()) {
  const verified: AuditEventInput[] = [];
  const unverified: UnverifiedRefusal[] = [];
  const nodes = { findKey: (wanted: string) => Promise.resolve(wanted === key.kid ? key : undefined) } as unknown as AuthenticateNodeDependencies["nodes"];
  const deps: AuthenticateNodeDependencies = {
    nodes,
    denials: {
      record: (event) => { verified.push(event); return Promise.resolve(); },
      recordUnverified: (refusal) => { unverified.push(refusal); return Promise.resolve(); },
      flush: () => Promise.resolve(),
    },
    now: () => NOW,
  };
  return { deps, verified, unverified };
}

const call = (overrides: Partial<NodeCallCredentials> = {}): NodeCallCredentials => ({
  bearer: BEARER, address: "203.0.113.9", requestId: "req-1", pathNodeId: NODE_ID, action: "secret.read", ...overrides,
});

describe("authenticateNode", () => {
  it("accepts the node's current bearer for its own path and records nothing", async () => {
    const { deps, verified, unverified } = fakes();
    await expect(authenticateNode(deps, call())).resolves.toMatchObject({ key: { kid, nodeId: NODE_ID } });
    expect([...verified, ...unverified]).toEqual([]);
  });

  it.each([
    ["no bearer", { bearer: undefined }, "credential_missing"],
    ["a bearer of another shape", { bearer: "not-a-node-bearer" }, "malformed_bearer"],
    ["an unknown kid", { bearer: formatNodeBearer(newKid(), secret) }, "unknown_kid"],
    ["the right kid with another secret", { bearer: formatNodeBearer(kid, deriveBearerSecret(newNsk())) }, "bearer_mismatch"],
  ] as const)("refuses %s as an unverified caller, summarised by its source address", async (_label, overrides, reason) => {
    const { deps, verified, unverified } = fakes();
    await expect(authenticateNode(deps, call(overrides))).rejects.toMatchObject({ code: "invalid_token" });
    expect(verified).toEqual([]);
    expect(unverified).toEqual([expect.objectContaining({ reason, source: "203.0.113.9", requestId: "req-1", action: "secret.read" })]);
  });

  it.each([
    ["a kid past its grace period", keyRecord({ retiresAt: NOW }), {}, "kid_retired", "invalid_token"],
    ["another node's path", keyRecord(), { pathNodeId: OTHER_NODE }, "node_mismatch", "node_mismatch"],
    ["a quarantined node", keyRecord({ node: { id: NODE_ID, domain: "acme", name: "web-1", status: "quarantined" } }), {}, "node_quarantined", "node_quarantined"],
  ] as const)("refuses %s, recorded against the verified node", async (_label, key, overrides, reason, code) => {
    const { deps, verified, unverified } = fakes(key);
    await expect(authenticateNode(deps, call(overrides))).rejects.toMatchObject({ code });
    expect(unverified).toEqual([]);
    expect(verified).toEqual([expect.objectContaining({ chain: "acme", actor: `node:${NODE_ID}`, reason, decision: "denied", details: { source: "203.0.113.9" } })]);
  });

  it("still accepts a superseded kid within its grace period", async () => {
    const { deps } = fakes(keyRecord({ retiresAt: NOW + 1 }));
    await expect(authenticateNode(deps, call())).resolves.toMatchObject({ key: { kid } });
  });
});
