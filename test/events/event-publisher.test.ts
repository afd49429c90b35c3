import { generateKeyPairSync } from "node:crypto";
import { compactVerify, decodeProtectedHeader } from "jose";
import { describe, expect, it } from "vitest";
import type { AuditEventInput } from "../../src/audit/audit-port.ts";
import type { Addressed } from "../../src/events/event-bus.ts";
import { publishEvents, type EventPublisherDependencies } from "../../src/events/event-publisher.ts";
import { CustosError } from "../../src/platform/errors.ts";

const NOW = 1_800_000_000;
const ACTIVE = { kid: "active-kid", ...generateKeyPairSync("ed25519") };

function fakes(options: { auditFails?: boolean } = {}) {
  const log: string[] = [];
  const records: AuditEventInput[] = [];
  const published: Addressed[] = [];
  const deps: EventPublisherDependencies = {
    keys: { activeKey: () => Promise.resolve(ACTIVE) },
    ttlSeconds: 60,
    now: () => NOW,
    audit: {
      append: (record) => {
        log.push("audit");
        records.push(record);
        return options.auditFails === true ? Promise.reject(new CustosError("audit_unavailable")) : Promise.resolve({ chain: record.chain, seq: 1, hash: "h" });
      },
    },
    bus: { publish: (messages) => { log.push("publish"); published.push(...messages); return Promise.resolve(); } },
  };
  return { deps, log, records, published };
}

const batch = { domain: "acme", event: { type: "secret.updated", data: { name: "db", version: 2 } }, recipients: ["n1", "n2"], requestId: "req-1" } as const;

describe("publishEvents", () => {
  it("audits the batch once, naming type, kid and each recipient's jti, before publishing one signed envelope per node", async () => {
    const { deps, log, records, published } = fakes();
    const result = await publishEvents(deps, batch);
    expect(log).toEqual(["audit", "publish"]);
    expect(records).toEqual([{
      chain: "acme", actor: "custos", action: "event.publish", resource: "domain:acme", decision: "recorded", reason: "ok", requestId: "req-1",
      details: { type: "secret.updated", kid: "active-kid", recipients: [{ node_id: "n1", jti: result?.jtis[0] }, { node_id: "n2", jti: result?.jtis[1] }] },
    }]);
    expect(published.map((each) => each.nodeId)).toEqual(["n1", "n2"]);
    for (const each of published) {
      if (each.message.kind !== "event") throw new Error("an envelope");
      const { payload } = await compactVerify(each.message.envelope, ACTIVE.publicKey);
      expect(JSON.parse(new TextDecoder().decode(payload))).toMatchObject({ aud: `node:${each.nodeId}`, type: "secret.updated", data: { name: "db", version: 2 }, iat: NOW, exp: NOW + 60 });
    }
  });

  it("publishes nothing when the audit record is refused", async () => {
    const { deps, log, published } = fakes({ auditFails: true });
    await expect(publishEvents(deps, batch)).rejects.toMatchObject({ code: "audit_unavailable" });
    expect(log).toEqual(["audit"]);
    expect(published).toEqual([]);
  });

  it("audits and publishes nothing for a batch without recipients", async () => {
    const { deps, log } = fakes();
    expect(await publishEvents(deps, { ...batch, recipients: [] })).toBeUndefined();
    expect(log).toEqual([]);
  });

  it("signs with the key it is handed (keys.rotated: the previous key) instead of the active one", async () => {
    const { deps, published, records } = fakes();
    const previous = { kid: "previous-kid", ...generateKeyPairSync("ed25519") };
    await publishEvents(deps, { ...batch, recipients: ["n1"], signWith: previous });
    const [only] = published;
    if (only?.message.kind !== "event") throw new Error("an envelope");
    expect(decodeProtectedHeader(only.message.envelope).kid).toBe("previous-kid");
    await compactVerify(only.message.envelope, previous.publicKey);
    expect(records[0]?.details).toMatchObject({ kid: "previous-kid" });
  });
});
