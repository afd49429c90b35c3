import { describe, expect, it } from "vitest";
import type { NodeKeyRecord } from "../../src/nodes/node-repo.ts";
import { CustosError } from "../../src/platform/errors.ts";
import { readNodeSecret } from "../../src/secrets/read-node-secret.ts";
import { createReadDecisions } from "../../src/secrets/read-decisions.ts";
import { changeSecretReader, type ChangeSecretReaderDependencies } from "../../src/secrets/secret-readers.ts";
import type { SecretRecord } from "../../src/secrets/secret-repo.ts";

const NODE_ID = "0b6f1c2e-5a4d-4e8f-9c3b-1d2e3f4a5b6c";
const KEY: NodeKeyRecord = {
  kid: "kid-1", nodeId: NODE_ID, bearerSecretSha256: "00".repeat(32), wrappedWrapKey: "wrapped", retiresAt: undefined,
  node: { id: NODE_ID, domain: "acme", name: "web-1", status: "active" },
};

/** An in-memory secret row and SpiceDB relationship, and the order in which the verb changed them. */
function fakes(options: { storingRevisionFails?: boolean } = {}) {
  const events: string[] = [];
  const row: { authzRevision: string | undefined } = { authzRevision: "zed-7" };
  const deps: ChangeSecretReaderDependencies = {
    audit: {
      append: (event) => {
        events.push(`audit ${event.action} ${event.reason}`);
        return Promise.resolve({ chain: event.chain, seq: 1, hash: "h" });
      },
    },
    authorizer: {
      writeRelationships: (touch, remove) => {
        events.push(`relationships +${String(touch.length)} -${String(remove.length)}`);
        return Promise.resolve("zed-8");
      },
    },
    nodes: { findNode: () => Promise.resolve({ id: NODE_ID, domain: "acme", name: "web-1", status: "active" }) },
    secrets: {
      find: (domain, name): Promise<SecretRecord> => Promise.resolve({ domain, name, version: 2, authzRevision: row.authzRevision }),
      clearAuthzRevision: () => {
        events.push("revision cleared");
        row.authzRevision = undefined;
        return Promise.resolve();
      },
      setAuthzRevision: (_domain, _name, revision) => {
        if (options.storingRevisionFails === true) return Promise.reject(new CustosError("store_unavailable"));
        events.push(`revision ${revision}`);
        row.authzRevision = revision;
        return Promise.resolve();
      },
    },
    events: {
      secretUpdated: () => Promise.resolve(),
      secretRevoked: () => Promise.resolve(),
    },
  };
  return { deps, events, row };
}

const REVOKE = { actor: "user:oidc:acme:alice", domain: "acme", name: "db", nodeId: NODE_ID, change: "reader_removed", requestId: "req-1" } as const;

describe("changeSecretReader", () => {
  it("audits, clears the secret's revision, changes SpiceDB, then stores the new revision", async () => {
    const { deps, events, row } = fakes();
    await changeSecretReader(deps, REVOKE);
    expect(events).toEqual(["audit secret.grant reader_removed", "revision cleared", "relationships +0 -1", "revision zed-8"]);
    expect(row.authzRevision).toBe("zed-8");
  });

  it("leaves no revision under which an allow remembered before a revoke could be served, when the revoke fails half-way", async () => {
    const { deps, row } = fakes({ storingRevisionFails: true });
    const decisions = createReadDecisions();
    decisions.rememberAllowed({ nodeId: NODE_ID, domain: "acme", name: "db", authzRevision: "zed-7" });
    await expect(changeSecretReader(deps, REVOKE)).rejects.toMatchObject({ code: "store_unavailable" });
    // SpiceDB no longer has the reader, and the next read carries the row as it was left.
    const read = readNodeSecret(
      {
        authorizer: { check: () => Promise.resolve(false) },
        denials: { record: () => Promise.resolve() },
        audit: { append: (event) => Promise.resolve({ chain: event.chain, seq: 2, hash: "h" }) },
        backend: { readSecret: () => Promise.resolve({ value: Buffer.from("value"), version: 2 }) },
        wrapKeys: { get: () => Promise.resolve(Buffer.alloc(32, 7)) },
        decisions,
      },
      { key: KEY, name: "db", requestId: "req-2", secret: { domain: "acme", name: "db", version: 2, authzRevision: row.authzRevision } },
    );
    await expect(read).rejects.toMatchObject({ code: "permission_denied" });
  });
});
