import { describe, expect, it } from "vitest";
import { eventKeyThumbprint } from "../../src/agent/event-key-pinning.ts";
import { backoffDelayMs } from "../../src/agent/event-stream.ts";

describe("reconnect backoff", () => {
  it("doubles its ceiling per failed attempt from the initial delay, and never passes the cap", () => {
    const ceiling = (attempt: number) => backoffDelayMs(attempt, { initialMs: 500, maxMs: 60_000, random: () => 0.999_999 });
    expect([0, 1, 2, 3, 7, 8, 40].map(ceiling)).toEqual([499, 999, 1999, 3999, 59_999, 59_999, 59_999]);
  });

  it("is jittered: a uniform fraction of the ceiling", () => {
    expect(backoffDelayMs(3, { initialMs: 500, maxMs: 60_000, random: () => 0.25 })).toBe(1000);
    expect(backoffDelayMs(3, { initialMs: 500, maxMs: 60_000, random: () => 0 })).toBe(0);
  });
});

describe("eventKeyThumbprint()", () => {
  it("is the RFC 7638 SHA-256 thumbprint (RFC 8037 appendix A.3's Ed25519 example)", async () => {
    const jwk = { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", kid: "k", custos_use: "event" } as const;
    expect(await eventKeyThumbprint(jwk)).toBe("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
  });
});
