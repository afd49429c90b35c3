import { describe, expect, it } from "vitest";
import { isLoopbackHost } from "../../../src/platform/loopback.ts";
import { loginSourceOf, publicBaseUrl } from "../../../src/identity/sessions/sign-in-origin.ts";
import { CustosError } from "../../../src/platform/errors.ts";

const onLoopback = { protocol: "http", localAddress: "127.0.0.1" };

function refusal(run: () => unknown): CustosError {
  try {
    run();
  } catch (error) {
    if (error instanceof CustosError) return error;
    throw error;
  }
  throw new Error("expected a refusal");
}

describe("isLoopbackHost", () => {
  it.each(["localhost", "LOCALHOST", "127.0.0.1", "127.12.0.1", "[::1]", "::1", "::ffff:127.0.0.1"])("accepts %s", (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });
  it.each(["custos.example", "10.0.0.1", "128.0.0.1", "127.0.0.1.nip.io", "[::2]", "::ffff:10.0.0.1", "localhost.example", ""])("refuses %s", (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });
});

describe("publicBaseUrl", () => {
  it("uses CUSTOS_PUBLIC_URL when configured, whatever the request says", () => {
    expect(publicBaseUrl("https://custos.example/", { protocol: "http", host: "attacker.example", localAddress: "10.0.0.1" })).toBe("https://custos.example");
  });

  it.each([
    ["127.0.0.1:8080", "http://127.0.0.1:8080"],
    ["localhost:8080", "http://localhost:8080"],
    ["[::1]:8080", "http://[::1]:8080"],
    ["127.0.0.1:8080/../x", "http://127.0.0.1:8080"],
  ])("derives from a loopback Host %s on a loopback connection", (host, base) => {
    expect(publicBaseUrl(undefined, { ...onLoopback, host })).toBe(base);
  });

  it.each([
    ["a non-loopback Host", { ...onLoopback, host: "custos.attacker.example" }],
    ["a Host smuggling another host", { ...onLoopback, host: "127.0.0.1@attacker.example" }],
    ["no Host", { ...onLoopback, host: undefined }],
    ["a loopback Host on a connection that did not arrive on loopback", { protocol: "http", host: "127.0.0.1:8080", localAddress: "10.0.0.5" }],
  ])("refuses with not_provisioned naming CUSTOS_PUBLIC_URL for %s", (_case, origin) => {
    const error = refusal(() => publicBaseUrl(undefined, origin));
    expect(error.code).toBe("not_provisioned");
    expect(error.detail).toContain("CUSTOS_PUBLIC_URL");
  });
});

describe("loginSourceOf", () => {
  it.each([
    ["192.0.2.7", "192.0.2.7"],
    ["::ffff:192.0.2.7", "192.0.2.7"],
    ["2001:db8:1:2:3:4:5:6", "2001:0db8:0001:0002::/64"],
    ["2001:db8:1:2::9", "2001:0db8:0001:0002::/64"],
    ["2001:db8::1", "2001:0db8:0000:0000::/64"],
    ["::1", "0000:0000:0000:0000::/64"],
    [undefined, "unknown"],
    ["not an address", "unknown"],
  ])("counts %s as %s", (address, source) => {
    expect(loginSourceOf(address)).toBe(source);
  });
});
