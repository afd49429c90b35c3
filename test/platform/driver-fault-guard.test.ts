import { describe, expect, it } from "vitest";
import { isDriverConnectionFault } from "../../src/platform/db/driver-fault-guard.ts";

function typeErrorAt(frame: string): TypeError {
  const error = new TypeError("Cannot read properties of null (reading 'write')");
  error.stack = `TypeError: Cannot read properties of null (reading 'write')\n    at ${frame}\n    at process.processImmediate (node:internal/timers:483:21)`;
  return error;
}

describe("which uncaught errors the driver fault guard absorbs", () => {
  it.each(["CONNECTION_CLOSED", "CONNECTION_ENDED", "ECONNRESET", "57P01"])("absorbs a lost connection reported as %s", (code) => {
    expect(isDriverConnectionFault(Object.assign(new Error("write CONNECTION_CLOSED"), { code }))).toBe(true);
  });

  it("absorbs the driver's write-after-close TypeError, thrown from its own frame", () => {
    expect(isDriverConnectionFault(typeErrorAt("Immediate.nextWrite (file:///srv/custos/node_modules/postgres/src/connection.js:255:22)"))).toBe(true);
  });

  it("leaves fatal a TypeError thrown from Custos's own code", () => {
    expect(isDriverConnectionFault(typeErrorAt("readKey (file:///srv/custos/dist/nodes/node-repo.js:12:3)"))).toBe(false);
  });

  it.each([new Error("something else"), new RangeError("out of range"), "a string", undefined])("leaves fatal anything else (%s)", (error) => {
    expect(isDriverConnectionFault(error)).toBe(false);
  });
});
