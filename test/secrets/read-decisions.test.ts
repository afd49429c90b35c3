import { describe, expect, it } from "vitest";
import { createReadDecisions, READ_DECISION_TTL_MS } from "../../src/secrets/read-decisions.ts";

const NODE = "0b6f1c2e-5a4d-4e8f-9c3b-1d2e3f4a5b6c";
const KEY = { nodeId: NODE, domain: "acme", name: "db", authzRevision: "zed-42" };

describe("createReadDecisions", () => {
  it("remembers an allow for exactly the node, secret and revision it was answered for", () => {
    const decisions = createReadDecisions();
    decisions.rememberAllowed(KEY);
    expect(decisions.allowed(KEY)).toBe(true);
    expect(decisions.allowed({ ...KEY, authzRevision: "zed-43" })).toBe(false);
    expect(decisions.allowed({ ...KEY, nodeId: "1c7a2d3f-6b5e-4f9a-8d4c-2e3f4a5b6c7d" })).toBe(false);
    expect(decisions.allowed({ ...KEY, name: "db2" })).toBe(false);
    expect(decisions.allowed({ ...KEY, domain: "other" })).toBe(false);
  });

  it("forgets an allow once SpiceDB's quantisation window has passed", () => {
    let now = 1_000;
    const decisions = createReadDecisions({ now: () => now });
    decisions.rememberAllowed(KEY);
    now += READ_DECISION_TTL_MS - 1;
    expect(decisions.allowed(KEY)).toBe(true);
    now += 1;
    expect(decisions.allowed(KEY)).toBe(false);
  });

  it("holds at most maxEntries, evicting the oldest first", () => {
    const decisions = createReadDecisions({ maxEntries: 2 });
    decisions.rememberAllowed({ ...KEY, name: "a" });
    decisions.rememberAllowed({ ...KEY, name: "b" });
    decisions.rememberAllowed({ ...KEY, name: "c" });
    expect(decisions.allowed({ ...KEY, name: "a" })).toBe(false);
    expect(decisions.allowed({ ...KEY, name: "b" })).toBe(true);
    expect(decisions.allowed({ ...KEY, name: "c" })).toBe(true);
  });
});
