import { describe, expect, it } from "vitest";
import type { AuditEventInput } from "../../src/audit/audit-port.ts";
import type { CheckRequest, Consistency } from "../../src/authz/authorizer.ts";
import type { NodeKeyRecord } from "../../src/nodes/node-repo.ts";
import { CustosError } from "../../src/platform/errors.ts";
import { readNodeSecret, type ReadNodeSecretDependencies } from "../../src/secrets/read-node-secret.ts";
import { createReadDecisions } from "../../src/secrets/read-decisions.ts";
import type { SecretRecord } from "../../src/secrets/secret-repo.ts";
import { unwrapOnNode, wrapForNode } from "../../src/secrets/wrap-for-node.ts";

const NODE_ID = "0b6f1c2e-5a4d-4e8f-9c3b-1d2e3f4a5b6c";
const KEY: NodeKeyRecord = {
  kid: "kid-current-1",
  nodeId: NODE_ID,
  bearerSecretSha256: "00".repeat(32),
  wrappedWrapKey: "wrapped",
  retiresAt: undefined,
  node: { id: NODE_ID, domain: "acme", name: "web-1", status: "active" },
};
const WRAP_KEY = Buffer.alloc(32, 7);
const VALUE = "s3cret value";

/** In-memory ports that log, in order, what the verb did with them. */
const ROW: SecretRecord = { domain: "acme", name: "db", version: 3, authzRevision: "zed-42" };

function fakes(options: { allowed?: boolean; auditFails?: boolean } = {}) {
  const events: string[] = [];
  const appended: AuditEventInput[] = [];
  const denied: AuditEventInput[] = [];
  const checks: { request: CheckRequest; consistency: Consistency | undefined }[] = [];
  const reads: { domain: string; name: string; version: number | undefined }[] = [];
  const values: Buffer[] = [];
  const deps: ReadNodeSecretDependencies = {
    authorizer: {
      check: (request, consistency) => {
        checks.push({ request, consistency });
        return Promise.resolve(options.allowed ?? true);
      },
    },
    denials: {
      record: (event) => {
        events.push("denied");
        denied.push(event);
        return Promise.resolve();
      },
    },
    audit: {
      append: (event) => {
        events.push("audit");
        appended.push(event);
        if (options.auditFails === true) return Promise.reject(new CustosError("audit_unavailable"));
        return Promise.resolve({ chain: event.chain, seq: 1, hash: "h" });
      },
    },
    backend: {
      readSecret: (domain, name, version) => {
        events.push("backend");
        reads.push({ domain, name, version });
        const value = Buffer.from(VALUE);
        values.push(value);
        return Promise.resolve({ value, version: version ?? 9 });
      },
    },
    wrapKeys: { get: () => Promise.resolve(WRAP_KEY) },
  };
  return { deps, events, appended, denied, checks, reads, values };
}

const input = { key: KEY, name: "db", requestId: "req-1", secret: ROW };

describe("readNodeSecret", () => {
  it("hands the node the value as a JWE under its wrap key, after the granted record", async () => {
    const { deps, appended } = fakes();
    const read = await readNodeSecret(deps, input);
    expect((await unwrapOnNode(read.jwe, WRAP_KEY, KEY.kid)).toString()).toBe(VALUE);
    expect(read).toMatchObject({ name: "db", version: 3, kid: KEY.kid });
    expect(appended).toEqual([expect.objectContaining({ chain: "acme", actor: `node:${NODE_ID}`, action: "secret.read", resource: "secret:acme/db", decision: "granted", reason: "ok", details: { kid: KEY.kid } })]);
  });

  it("refuses, records the denial and reads nothing when the authorizer says no", async () => {
    const { deps, events, appended, denied } = fakes({ allowed: false });
    await expect(readNodeSecret(deps, input)).rejects.toMatchObject({ code: "permission_denied" });
    expect(denied).toEqual([expect.objectContaining({ decision: "denied", reason: "permission_denied", resource: "secret:acme/db" })]);
    expect(appended).toEqual([]);
    expect(events).not.toContain("backend");
  });

  it("asks the authorizer at least as fresh as the revision kept with the secret", async () => {
    const { deps, checks } = fakes();
    await readNodeSecret(deps, input);
    expect(checks).toEqual([{
      request: { resource: { type: "secret", id: expect.any(String) as string }, permission: "read", subject: { type: "node", id: NODE_ID } },
      consistency: { kind: "at_least_as_fresh", token: "zed-42" },
    }]);
  });

  it("releases nothing until the granted record has committed", async () => {
    const { deps } = fakes();
    let commit: () => void = () => undefined;
    const append = deps.audit.append.bind(deps.audit);
    const held: ReadNodeSecretDependencies = {
      ...deps,
      audit: { append: async (event) => { await new Promise<void>((resolve) => { commit = resolve; }); return append(event); } },
    };
    let settled = false;
    const reading = readNodeSecret(held, input).finally(() => { settled = true; });
    // Long enough for a verb that did not wait to have wrapped and answered: as long as two
    // wraps of the same value, with the event loop turned between them.
    for (let i = 0; i < 2; i += 1) {
      await wrapForNode(Buffer.from(VALUE), WRAP_KEY, KEY.kid);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(settled).toBe(false);
    commit();
    await expect(reading).resolves.toMatchObject({ version: 3 });
  });

  it("answers the audit failure and releases nothing, wiping the value read meanwhile", async () => {
    const { deps, values } = fakes({ auditFails: true });
    await expect(readNodeSecret(deps, input)).rejects.toMatchObject({ code: "audit_unavailable" });
    await new Promise((resolve) => setImmediate(resolve));
    expect(values).toHaveLength(1);
    expect(values[0]?.every((byte) => byte === 0)).toBe(true);
  });

  it("reads the version Custos recorded, not the latest, and answers with that version", async () => {
    const { deps, reads } = fakes();
    const read = await readNodeSecret(deps, { ...input, secret: { domain: "acme", name: "db", version: 3, authzRevision: undefined } });
    expect(reads).toEqual([{ domain: "acme", name: "db", version: 3 }]);
    expect(read.version).toBe(3);
  });

  it("wipes the plaintext once it is wrapped", async () => {
    const { deps, values } = fakes();
    await readNodeSecret(deps, input);
    expect(values).toHaveLength(1);
    expect(values[0]?.every((byte) => byte === 0)).toBe(true);
  });

  it("answers a missing secret exactly like a refused one", async () => {
    const noRow = { ...input, secret: undefined };
    const { deps } = fakes({ allowed: false });
    const refused = await readNodeSecret(deps, noRow).catch((error: unknown) => error);
    const { deps: allowedButMissing } = fakes();
    allowedButMissing.backend.readSecret = () => Promise.resolve(undefined);
    const missing = await readNodeSecret(allowedButMissing, noRow).catch((error: unknown) => error);
    expect(missing).toEqual(refused);
  });

  describe("with remembered decisions", () => {
    it("skips SpiceDB for the same node, secret and revision once it has allowed them", async () => {
      const { deps, checks, appended } = fakes();
      const decisions = createReadDecisions();
      await readNodeSecret({ ...deps, decisions }, input);
      await readNodeSecret({ ...deps, decisions }, input);
      expect(checks).toHaveLength(1);
      // The cached allow still writes its granted record before releasing.
      expect(appended).toHaveLength(2);
    });

    it("asks SpiceDB again once the secret's revision changed (a reader change through any replica)", async () => {
      const { deps, checks } = fakes();
      const decisions = createReadDecisions();
      await readNodeSecret({ ...deps, decisions }, input);
      await readNodeSecret({ ...deps, decisions }, { ...input, secret: { ...ROW, authzRevision: "zed-43" } });
      expect(checks.map((check) => check.consistency)).toEqual([
        { kind: "at_least_as_fresh", token: "zed-42" },
        { kind: "at_least_as_fresh", token: "zed-43" },
      ]);
    });

    it("asks SpiceDB fully consistent, and remembers nothing, while the secret's readers are being changed", async () => {
      const { deps, checks } = fakes();
      const decisions = createReadDecisions();
      await readNodeSecret({ ...deps, decisions }, input);
      const changing = { ...input, secret: { ...ROW, authzRevision: undefined } };
      await readNodeSecret({ ...deps, decisions }, changing);
      await readNodeSecret({ ...deps, decisions }, changing);
      expect(checks.map((check) => check.consistency)).toEqual([
        { kind: "at_least_as_fresh", token: "zed-42" },
        { kind: "fully_consistent" },
        { kind: "fully_consistent" },
      ]);
    });

    it("never remembers a refusal", async () => {
      const decisions = createReadDecisions();
      const refusing = fakes({ allowed: false });
      await expect(readNodeSecret({ ...refusing.deps, decisions }, input)).rejects.toMatchObject({ code: "permission_denied" });
      await expect(readNodeSecret({ ...refusing.deps, decisions }, input)).rejects.toMatchObject({ code: "permission_denied" });
      expect(refusing.checks).toHaveLength(2);
    });

    it("does not let another node use a node's remembered allow", async () => {
      const { deps, checks } = fakes();
      const decisions = createReadDecisions();
      const other = "1c7a2d3f-6b5e-4f9a-8d4c-2e3f4a5b6c7d";
      await readNodeSecret({ ...deps, decisions }, input);
      await readNodeSecret({ ...deps, decisions }, { ...input, key: { ...KEY, nodeId: other, node: { ...KEY.node, id: other } } });
      expect(checks).toHaveLength(2);
    });
  });
});
