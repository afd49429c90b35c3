import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Relationship, RelationshipFilter } from "../../src/authz/authorizer.ts";
import { nodeRef, secretRef } from "../../src/authz/object-ids.ts";
import { parseStepUpPolicy } from "../../src/access/step-up-policy.ts";
import type { UserCredential } from "../../src/identity/credentials.ts";
import { CustosError } from "../../src/platform/errors.ts";
import { deleteSecret, type DeleteSecretDependencies } from "../../src/secrets/delete-secret.ts";
import type { SecretMetadata } from "../../src/secrets/secret-repo.ts";

const NOW = 1_800_000_000;
const POLICY = parseStepUpPolicy(readFileSync(new URL("../../policies/step-up.yaml", import.meta.url), "utf8"), "step-up.yaml");
const ADMIN: UserCredential = { kind: "user", via: "id_token", domain: "acme", subject: "oidc:acme:alice", acr: "urn:custos:acr:mfa", amr: ["mfa"], authTime: NOW - 10 };
const READER = "0b6f1c2e-5a4d-4e8f-9c3b-1d2e3f4a5b6c";
const LATE_READER = "1c7a2d3f-6b5e-4f9a-8d4c-2e3f4a5b6c7d";
const ROW: SecretMetadata = { name: "db", version: 4, createdAt: "2026-01-01T00:00:00.000Z", updatedAt: "2026-01-02T00:00:00.000Z", authzRevision: "zed-7" };

/** In-memory ports that log, in order, what the verb changed. */
function fakes(options: { row?: SecretMetadata | undefined; auditFails?: boolean; lateReader?: boolean; administers?: boolean } = {}) {
  const events: string[] = [];
  const readerReads: { filter: RelationshipFilter; revision: string | undefined }[] = [];
  const removed: Relationship[][] = [];
  const row = "row" in options ? options.row : ROW;
  const reader = (nodeId: string): Relationship => ({ resource: secretRef("acme", "db"), relation: "reader", subject: nodeRef(nodeId) });
  const deps: DeleteSecretDependencies = {
    policy: POLICY,
    leewaySeconds: 30,
    now: () => NOW,
    audit: {
      append: (event) => {
        events.push(`audit ${event.action} ${event.decision}`);
        if (options.auditFails === true && event.decision === "granted") return Promise.reject(new CustosError("audit_unavailable"));
        return Promise.resolve({ chain: event.chain, seq: 1, hash: "h" });
      },
    },
    authorizer: {
      check: () => Promise.resolve(options.administers ?? true),
      readRelationships: (filter, consistency) => {
        readerReads.push({ filter, revision: consistency?.kind === "at_least_as_fresh" ? consistency.token : undefined });
        // The second read (the sweep, after the row is gone) finds a reader added meanwhile.
        const late = options.lateReader === true && readerReads.length > 1 ? [reader(LATE_READER)] : [];
        return Promise.resolve(readerReads.length === 1 ? [reader(READER)] : late);
      },
      writeRelationships: (touch, remove) => {
        events.push(`relationships -${String(remove.length)}`);
        removed.push([...remove]);
        return Promise.resolve("zed-8");
      },
      readiness: { name: "authz", check: () => Promise.resolve() },
    },
    backend: {
      deleteSecret: (domain, name) => {
        events.push(`backend ${domain}/${name}`);
        return Promise.resolve();
      },
    },
    secrets: {
      describe: () => Promise.resolve(row),
      clearAuthzRevision: () => {
        events.push("revision cleared");
        return Promise.resolve();
      },
      remove: () => {
        events.push("row");
        return Promise.resolve(true);
      },
    },
    events: {
      secretRevoked: ({ name, nodeIds }) => {
        events.push(`event secret.revoked ${name} -> ${nodeIds.join(",")}`);
        return Promise.resolve();
      },
    },
  };
  return { deps, events, readerReads, removed };
}

const input = { credential: ADMIN, domain: "acme", name: "db", requestId: "req-1" };

describe("deleteSecret", () => {
  it("audits first, clears the secret's revision, then removes the readers and the secret's domain link, then destroys the value, then the row", async () => {
    const { deps, events, removed, readerReads } = fakes();
    await deleteSecret(deps, input);
    // The revision is cleared before SpiceDB changes: a remembered allow never outlives a half-done deletion.
    expect(events).toEqual(["audit secret.delete granted", "revision cleared", "relationships -2", "backend acme/db", "row", `event secret.revoked db -> ${READER}`]);
    expect(removed[0]?.map((rel) => `${rel.relation}@${rel.subject.type}`)).toEqual(["reader@node", "domain@domain"]);
    // The readers are read at least as fresh as the secret's last reader change.
    expect(readerReads[0]?.revision).toBe("zed-7");
  });

  it("changes nothing when the audit record cannot commit", async () => {
    const { deps, events } = fakes({ auditFails: true });
    await expect(deleteSecret(deps, input)).rejects.toMatchObject({ code: "audit_unavailable" });
    expect(events).toEqual(["audit secret.delete granted"]);
  });

  it("answers an unknown secret not_found, and changes nothing", async () => {
    const { deps, events } = fakes({ row: undefined });
    await expect(deleteSecret(deps, input)).rejects.toMatchObject({ code: "not_found" });
    expect(events).toEqual([]);
  });

  it("refuses a non-admin before looking the secret up, audited as a secret.delete denial", async () => {
    const { deps, events } = fakes({ administers: false });
    await expect(deleteSecret(deps, input)).rejects.toMatchObject({ code: "permission_denied" });
    expect(events).toEqual(["audit secret.delete denied"]);
  });

  it("refuses a password-only sign-in with step_up_required, and changes nothing", async () => {
    const { deps, events } = fakes();
    await expect(deleteSecret(deps, { ...input, credential: { ...ADMIN, acr: undefined, amr: ["pwd"] } })).rejects.toMatchObject({ code: "step_up_required" });
    expect(events).toEqual(["audit secret.delete denied"]);
  });

  it("sweeps up a reader added while it ran, so a secret later written under the name does not inherit it", async () => {
    const { deps, events, removed } = fakes({ lateReader: true });
    await deleteSecret(deps, input);
    expect(events.at(-2)).toBe("relationships -1");
    // Every former reader is told, the late one too, once the secret is gone.
    expect(events.at(-1)).toBe(`event secret.revoked db -> ${READER},${LATE_READER}`);
    expect(removed.at(-1)).toEqual([{ resource: secretRef("acme", "db"), relation: "reader", subject: nodeRef(LATE_READER) }]);
  });
});
