import { describe, expect, it } from "vitest";
import { auditActor } from "../../src/audit/audit-vocabulary.ts";
import { registerNode, type RegisterNodeDependencies } from "../../src/nodes/enroll-node.ts";
import { CustosError } from "../../src/platform/errors.ts";

const NODE_ID = "0b6f1c2e-5a4d-4e8f-9c3b-1d2e3f4a5b6c";
const input = { actor: auditActor.system("test"), domain: "acme", nodeId: NODE_ID, name: "web-1", requestId: "req-1" };

function fakes(options: { auditFails?: boolean; wrapFails?: boolean } = {}) {
  const events: string[] = [];
  const deps: RegisterNodeDependencies = {
    wrapper: {
      wrap: () => {
        events.push("wrap");
        return options.wrapFails === true ? Promise.reject(new CustosError("secret_backend_unavailable")) : Promise.resolve("wrapped");
      },
      unwrap: () => Promise.reject(new Error("not used")),
    },
    audit: {
      append: (event) => {
        events.push(`audit:${event.decision}`);
        return options.auditFails === true ? Promise.reject(new CustosError("audit_unavailable")) : Promise.resolve({ chain: event.chain, seq: 1, hash: "h" });
      },
    },
    authorizer: { writeRelationships: () => { events.push("membership"); return Promise.resolve("zed"); } },
    nodes: { insertNode: () => { events.push("node"); return Promise.resolve(); } },
  };
  return { deps, events };
}

describe("registerNode", () => {
  it("wraps the key, then audits, then writes the membership and the node", async () => {
    const { deps, events } = fakes();
    const enrolled = await registerNode(deps, input);
    expect(events).toEqual(["wrap", "audit:granted", "membership", "node"]);
    expect(enrolled.nodeId).toBe(NODE_ID);
  });

  it("leaves no node and no membership when the record cannot commit", async () => {
    const { deps, events } = fakes({ auditFails: true });
    await expect(registerNode(deps, input)).rejects.toMatchObject({ code: "audit_unavailable" });
    expect(events).toEqual(["wrap", "audit:granted"]);
  });

  it("records nothing as granted when the backend cannot wrap the new key", async () => {
    const { deps, events } = fakes({ wrapFails: true });
    await expect(registerNode(deps, input)).rejects.toMatchObject({ code: "secret_backend_unavailable" });
    expect(events).toEqual(["wrap"]);
  });
});
