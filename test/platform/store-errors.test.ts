import { describe, expect, it } from "vitest";
import { isStoreUnavailable, storeUnavailableFrom } from "../../src/platform/db/store-errors.ts";

function driverError(code: string, message = "driver failure"): Error {
  return Object.assign(new Error(message), { code });
}

describe("store failures", () => {
  it.each([
    ["statement timeout (57014)", driverError("57014", "canceling statement due to statement timeout")],
    ["lock timeout (55P03)", driverError("55P03")],
    ["a terminated backend (57P01)", driverError("57P01", "terminating connection due to administrator command")],
    ["a connection exception (08006)", driverError("08006")],
    ["too many connections (53300)", driverError("53300")],
    ["a closed postgres.js connection", driverError("CONNECTION_CLOSED")],
    ["a refused connection", driverError("ECONNREFUSED")],
    ["a connect timeout", driverError("CONNECT_TIMEOUT")],
    ["a closed PGlite", new Error("PGlite is closed")],
    ["a driver error wrapped by drizzle", new Error("Failed query: select 1", { cause: driverError("57P01") })],
  ])("maps %s to 503 store_unavailable", (_label, error) => {
    expect(isStoreUnavailable(error)).toBe(true);
    expect(storeUnavailableFrom(error)).toMatchObject({ code: "store_unavailable", cause: error });
  });

  it.each([
    ["a unique violation (23505)", driverError("23505")],
    ["a syntax error (42601)", driverError("42601")],
    ["Custos's own refusal (0A000)", driverError("0A000")],
    ["a plain bug", new TypeError("x is undefined")],
    ["not an error at all", "down"],
  ])("leaves %s alone: it is not the store being unavailable", (_label, error) => {
    expect(isStoreUnavailable(error)).toBe(false);
    expect(storeUnavailableFrom(error)).toBeUndefined();
  });

  it("follows a bounded number of causes, even through a cycle", () => {
    const first = new Error("a");
    const second = new Error("b", { cause: first });
    (first as { cause?: unknown }).cause = second;
    expect(isStoreUnavailable(first)).toBe(false);
  });
});
