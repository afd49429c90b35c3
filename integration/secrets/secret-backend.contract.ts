import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SecretBackend } from "../../src/secrets/secret-backend.ts";

/**
 * The one contract every SecretBackend adapter passes (keto's `ManagerTest(t, manager)`):
 * run against the local backend, the OpenBao adapter over the double, and the OpenBao
 * adapter over a real OpenBao when one is configured. Names are random per run, so the
 * suite can run repeatedly against a persistent OpenBao.
 */
export interface ContractSubject {
  readonly backend: SecretBackend;
  /** Closes the backend and whatever the factory started (temp dirs, the double). */
  dispose(): Promise<void>;
}

function unique(label: string): string {
  return `${label}-${randomBytes(5).toString("hex")}`;
}

/** Flips one character in the middle of the encoded part, keeping the alphabet valid. */
function tamper(wrapped: string): string {
  const start = wrapped.lastIndexOf(":") + 1;
  const at = start + Math.floor((wrapped.length - start) / 2);
  const replacement = wrapped[at] === "A" ? "B" : "A";
  return `${wrapped.slice(0, at)}${replacement}${wrapped.slice(at + 1)}`;
}

export function describeSecretBackendContract(name: string, open: () => Promise<ContractSubject>): void {
  describe(`SecretBackend contract: ${name}`, () => {
    let subject: ContractSubject;
    let backend: SecretBackend;
    const domain = unique("contract");

    beforeAll(async () => {
      subject = await open();
      backend = subject.backend;
    });

    afterAll(async () => {
      await subject.dispose();
    });

    it("readSecret() returns what writeSecret() stored, each write a higher version", async () => {
      const secret = unique("db.password");
      const first = await backend.writeSecret(domain, secret, Buffer.from("first value"));
      expect(await backend.readSecret(domain, secret)).toEqual({ value: Buffer.from("first value"), version: first.version });

      const second = await backend.writeSecret(domain, secret, Buffer.from("second value"));
      expect(second.version).toBeGreaterThan(first.version);
      expect(await backend.readSecret(domain, secret)).toEqual({ value: Buffer.from("second value"), version: second.version });
    });

    it("readSecret() with a version returns that version; a version never written is undefined", async () => {
      const secret = unique("versioned");
      const first = await backend.writeSecret(domain, secret, Buffer.from("first"));
      const second = await backend.writeSecret(domain, secret, Buffer.from("second"));
      expect(await backend.readSecret(domain, secret, first.version)).toEqual({ value: Buffer.from("first"), version: first.version });
      expect(await backend.readSecret(domain, secret, second.version)).toEqual({ value: Buffer.from("second"), version: second.version });
      expect(await backend.readSecret(domain, secret, second.version + 5)).toBeUndefined();
      expect(await backend.readSecret(domain, secret, 0)).toBeUndefined();
      expect(await backend.readSecret(domain, unique("never-written"), 1)).toBeUndefined();
    });

    it("readSecret() is undefined for a secret never written", async () => {
      expect(await backend.readSecret(domain, unique("never-written"))).toBeUndefined();
      expect(await backend.readSecret(unique("other-domain"), "anything")).toBeUndefined();
    });

    it("keeps domains apart: the same name in two domains is two secrets", async () => {
      const secret = unique("shared-name");
      const otherDomain = unique("contract-other");
      await backend.writeSecret(domain, secret, Buffer.from("mine"));
      expect(await backend.readSecret(otherDomain, secret)).toBeUndefined();
    });

    it("deleteSecret() destroys every version: the latest and each numbered one read as undefined", async () => {
      const secret = unique("doomed");
      const first = await backend.writeSecret(domain, secret, Buffer.from("first"));
      const second = await backend.writeSecret(domain, secret, Buffer.from("second"));
      await backend.deleteSecret(domain, secret);
      expect(await backend.readSecret(domain, secret)).toBeUndefined();
      expect(await backend.readSecret(domain, secret, first.version)).toBeUndefined();
      expect(await backend.readSecret(domain, secret, second.version)).toBeUndefined();
    });

    it("deleteSecret() leaves other secrets, and the same name in another domain, alone", async () => {
      const secret = unique("neighbour");
      const kept = unique("kept");
      const otherDomain = unique("contract-other");
      await backend.writeSecret(domain, secret, Buffer.from("goes"));
      await backend.writeSecret(domain, kept, Buffer.from("stays"));
      await backend.writeSecret(otherDomain, secret, Buffer.from("elsewhere"));
      await backend.deleteSecret(domain, secret);
      expect((await backend.readSecret(domain, kept))?.value.toString()).toBe("stays");
      expect((await backend.readSecret(otherDomain, secret))?.value.toString()).toBe("elsewhere");
    });

    it("deleteSecret() of a secret never written (or already deleted) resolves; a new write after it starts a fresh secret", async () => {
      const secret = unique("again");
      await expect(backend.deleteSecret(domain, unique("never-written"))).resolves.toBeUndefined();
      await backend.writeSecret(domain, secret, Buffer.from("old"));
      await backend.deleteSecret(domain, secret);
      await expect(backend.deleteSecret(domain, secret)).resolves.toBeUndefined();
      const fresh = await backend.writeSecret(domain, secret, Buffer.from("new"));
      expect(await backend.readSecret(domain, secret)).toEqual({ value: Buffer.from("new"), version: fresh.version });
    });

    it("binary values round-trip byte for byte (every byte value, random bytes, empty)", async () => {
      const values = [Buffer.from(Array.from({ length: 256 }, (_, byte) => byte)), randomBytes(4096), Buffer.alloc(0)];
      for (const value of values) {
        const secret = unique("binary");
        const { version } = await backend.writeSecret(domain, secret, value);
        const read = await backend.readSecret(domain, secret);
        expect(read?.version).toBe(version);
        expect(read?.value.equals(value)).toBe(true);
      }
    });

    it("unwrap() returns what wrap() wrapped under the same context", async () => {
      const keyMaterial = randomBytes(32);
      const context = `custos/v1/contract:${domain}:${unique("kid")}`;
      const wrapped = await backend.wrap(keyMaterial, context);
      expect(wrapped).not.toContain(keyMaterial.toString("base64"));
      expect(wrapped).not.toContain(keyMaterial.toString("base64url"));
      expect((await backend.unwrap(wrapped, context)).equals(keyMaterial)).toBe(true);
      // Randomised: wrapping the same bytes twice gives two different ciphertexts.
      expect(await backend.wrap(keyMaterial, context)).not.toBe(wrapped);
    });

    it("unwrap() under another context fails", async () => {
      const wrapped = await backend.wrap(randomBytes(32), `custos/v1/contract:${domain}:row-1`);
      await expect(backend.unwrap(wrapped, `custos/v1/contract:${domain}:row-2`)).rejects.toMatchObject({ code: "internal" });
    });

    it("unwrap() of a tampered or truncated ciphertext fails", async () => {
      const context = `custos/v1/contract:${domain}:tamper`;
      const wrapped = await backend.wrap(randomBytes(32), context);
      await expect(backend.unwrap(tamper(wrapped), context)).rejects.toMatchObject({ code: "internal" });
      await expect(backend.unwrap(wrapped.slice(0, -8), context)).rejects.toMatchObject({ code: "internal" });
      await expect(backend.unwrap("not a ciphertext", context)).rejects.toMatchObject({ code: "internal" });
    });

    it("refuses names outside the documented grammar with invalid_name", async () => {
      await expect(backend.readSecret("../../etc", "passwd")).rejects.toMatchObject({ code: "invalid_name" });
      await expect(backend.readSecret(domain, "../escape")).rejects.toMatchObject({ code: "invalid_name" });
      await expect(backend.writeSecret(domain, "a/b", Buffer.from("x"))).rejects.toMatchObject({ code: "invalid_name" });
      await expect(backend.writeSecret("platform", "name", Buffer.from("x"))).rejects.toMatchObject({ code: "invalid_name" });
      await expect(backend.deleteSecret(domain, "../escape")).rejects.toMatchObject({ code: "invalid_name" });
      await expect(backend.deleteSecret("../../etc", "passwd")).rejects.toMatchObject({ code: "invalid_name" });
    });

    it("readiness resolves while the backend can serve", async () => {
      await expect(backend.readiness.check()).resolves.toBeUndefined();
    });
  });
}
