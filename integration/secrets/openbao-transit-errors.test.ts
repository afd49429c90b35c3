import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createOpenBaoBackend, decryptRefusalIsTampering, type BackendLog, type OpenBaoSecretBackend } from "../../src/secrets/backends/openbao-backend.ts";
import { startOpenBaoDouble, type OpenBaoDouble } from "./openbao-double.ts";
import { rejection } from "./openbao-fixtures.ts";

/**
 * Issue "OpenBao in production", item 3: an operator's change to the Transit key is not
 * tampering. Only a ciphertext that fails authentication (or does not parse) is `internal`;
 * the key's state is 503 secret_backend_unavailable, with a log line naming the cause.
 */

let double: OpenBaoDouble;
let backend: OpenBaoSecretBackend;
let logged: { level: string; message: string }[];

beforeEach(async () => {
  double = await startOpenBaoDouble();
  double.createTransitKey("custos", { derived: true });
  logged = [];
  const log: BackendLog = {
    info: (_fields, message) => { logged.push({ level: "info", message }); },
    warn: (_fields, message) => { logged.push({ level: "warn", message }); },
    error: (_fields, message) => { logged.push({ level: "error", message }); },
  };
  backend = createOpenBaoBackend(
    { addr: double.addr, auth: { method: "token", token: double.token }, kvMount: "secret", transitMount: "transit", transitKey: "custos", timeoutMs: 1_000 },
    { log },
  );
});

afterEach(async () => {
  await backend.close();
  await double.stop();
});

async function expectOperatorCause(wrapped: string, cause: string): Promise<void> {
  const error = await rejection(backend.unwrap(wrapped, "ctx"));
  expect(error.code).toBe("secret_backend_unavailable");
  expect(error.detail).not.toContain("did not unwrap");
  expect((error.cause as Error).message).toContain(cause);
  const line = logged.find((entry) => entry.level === "error" && entry.message.includes(cause));
  expect(line?.message).toContain("not tampering");
}

describe("Transit decrypt refusals: the key's state is unavailable, not tampering", () => {
  it("min_decryption_version raised past the ciphertext's version ('too old')", async () => {
    const wrapped = await backend.wrap(randomBytes(32), "ctx");
    double.rotateTransitKey("custos");
    double.setMinDecryptionVersion("custos", 2);
    await expectOperatorCause(wrapped, "too old");
  });

  it("a ciphertext version newer than the key's latest (a restored, older key)", async () => {
    const wrapped = await backend.wrap(randomBytes(32), "ctx");
    await expectOperatorCause(wrapped.replace(/^vault:v1:/, "vault:v7:"), "too new");
  });

  it("the key was deleted ('encryption key not found')", async () => {
    const wrapped = await backend.wrap(randomBytes(32), "ctx");
    double.deleteTransitKey("custos");
    await expectOperatorCause(wrapped, "encryption key not found");
  });

  it("the key is soft-deleted", async () => {
    const wrapped = await backend.wrap(randomBytes(32), "ctx");
    double.softDeleteTransitKey("custos");
    await expectOperatorCause(wrapped, "soft-deleted");
  });

  it("still internal for a tampered ciphertext and a wrong context, which fail authentication", async () => {
    const wrapped = await backend.wrap(randomBytes(32), "ctx");
    const body = wrapped.slice("vault:v1:".length);
    const flipped = `vault:v1:${body.slice(0, 10)}${body[10] === "A" ? "B" : "A"}${body.slice(11)}`;
    for (const [candidate, context] of [[flipped, "ctx"], [wrapped, "other-ctx"]] as const) {
      const error = await rejection(backend.unwrap(candidate, context));
      expect(error.code).toBe("internal");
      expect((error.cause as Error).message).toContain("message authentication failed");
    }
  });
});

describe("decryptRefusalIsTampering()", () => {
  it("follows OpenBao's wording", () => {
    expect(decryptRefusalIsTampering("cipher: message authentication failed")).toBe(true);
    expect(decryptRefusalIsTampering("invalid ciphertext: could not decode base64")).toBe(true);
    expect(decryptRefusalIsTampering("invalid ciphertext: no prefix")).toBe(true);
    expect(decryptRefusalIsTampering("ciphertext or signature version is disallowed by policy (too old)")).toBe(false);
    expect(decryptRefusalIsTampering("invalid ciphertext: version is too new")).toBe(false);
    expect(decryptRefusalIsTampering("encryption key not found")).toBe(false);
    expect(decryptRefusalIsTampering("missing 'context' for key derivation; the key was created using a derived key")).toBe(false);
  });
});
