import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditKeyError, loadOrCreateAuditKeyFile } from "../../src/audit/audit-signer.ts";
import { openLocalBackend } from "../../src/secrets/backends/local-backend.ts";
import type { SecretBackend } from "../../src/secrets/secret-backend.ts";

describe("the audit signing key held by the secret backend", () => {
  let dir: string;
  let backend: SecretBackend;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "custos-audit-key-"));
    backend = await openLocalBackend({ dataDir: path.join(dir, "backend"), nodeEnv: "test" });
  });
  afterAll(async () => {
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("writes the key only wrapped by the backend, and reads the same key back through it", async () => {
    const file = path.join(dir, "audit-key");
    const created = await loadOrCreateAuditKeyFile(file, backend);
    const text = await readFile(file, "utf8");
    expect(text).toMatch(/^custos-audit-key\/v1 wrapped:local:v1:/);
    expect(text).not.toContain("PRIVATE KEY");
    const loaded = await loadOrCreateAuditKeyFile(file, backend);
    expect(loaded.keyId).toBe(created.keyId);
    const signature = await created.sign(Buffer.from("head"));
    expect(await loaded.verify(created.keyId, Buffer.from("head"), signature)).toBe(true);
  });

  it("cannot sign from a copy of the file without the backend", async () => {
    const file = path.join(dir, "audit-key-2");
    await loadOrCreateAuditKeyFile(file, backend);
    await expect(loadOrCreateAuditKeyFile(file)).rejects.toBeInstanceOf(AuditKeyError);
    const otherBackend = await openLocalBackend({ dataDir: path.join(dir, "other-backend"), nodeEnv: "test" });
    try {
      await expect(loadOrCreateAuditKeyFile(file, otherBackend)).rejects.toThrow();
    } finally {
      await otherBackend.close();
    }
  });
});
