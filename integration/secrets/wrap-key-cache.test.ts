import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueNodeKey } from "../../src/nodes/node-keys.ts";
import type { NodeKeyRecord } from "../../src/nodes/node-repo.ts";
import { deriveWrapKey } from "../../src/nodes/nsk.ts";
import { openLocalBackend } from "../../src/secrets/backends/local-backend.ts";
import type { KeyWrapper } from "../../src/platform/key-wrapping/key-wrapper.ts";
import type { SecretBackend } from "../../src/secrets/secret-backend.ts";
import { createWrapKeyCache } from "../../src/nodes/wrap-key-cache.ts";

const NODE_ID = "0b6f4c1e-5a4e-4b8e-9d1e-2f3a4b5c6d7e";

function recordOf(key: Awaited<ReturnType<typeof issueNodeKey>>): NodeKeyRecord {
  return { ...key.record, retiresAt: undefined, node: { id: NODE_ID, domain: "acme", name: "n", status: "active" } };
}

describe("the in-memory cache of nodes' wrap keys", () => {
  let dir: string;
  let backend: SecretBackend;
  let unwraps = 0;
  let counting: KeyWrapper;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "custos-wrapkeys-"));
    backend = await openLocalBackend({ dataDir: dir, nodeEnv: "test" });
    counting = {
      wrap: (plaintext, context) => backend.wrap(plaintext, context),
      unwrap: (wrapped, context) => {
        unwraps += 1;
        return backend.unwrap(wrapped, context);
      },
    };
  });
  afterAll(async () => {
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("asks the backend once per key, returns the node's real wrap_key, and never serves a rotated key's", async () => {
    const cache = createWrapKeyCache(counting);
    const first = await issueNodeKey(backend, NODE_ID);
    const before = unwraps;
    const key = await cache.get(recordOf(first));
    await cache.get(recordOf(first));
    expect(unwraps - before).toBe(1);
    expect(key).toEqual(deriveWrapKey(Buffer.from(first.nsk, "base64url")));

    const rotated = await issueNodeKey(backend, NODE_ID);
    const next = await cache.get(recordOf(rotated));
    expect(next).toEqual(deriveWrapKey(Buffer.from(rotated.nsk, "base64url")));
    expect(next).not.toEqual(key);
    expect(unwraps - before).toBe(2);
  });

  it("does not cache a failed unwrap: each attempt asks the backend again", async () => {
    const cache = createWrapKeyCache(counting);
    const issued = await issueNodeKey(backend, NODE_ID);
    const tampered = { ...recordOf(issued), wrappedWrapKey: `${issued.record.wrappedWrapKey.slice(0, -2)}AA` };
    const before = unwraps;
    await expect(cache.get(tampered)).rejects.toThrow();
    await expect(cache.get(tampered)).rejects.toThrow();
    expect(unwraps - before).toBe(2);
  });
});
