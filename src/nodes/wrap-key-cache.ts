import type { NodeKeyRecord } from "./node-repo.ts";
import { wrapKeyContext } from "./node-keys.ts";
import type { KeyWrapper } from "../platform/key-wrapping/key-wrapper.ts";

const TTL_MS = 5 * 60_000;
const MAX_ENTRIES = 10_000;

/**
 * Nodes' unwrapped wrap_keys, kept in memory for a few minutes so that a busy node does not
 * cost one Transit decrypt per read. Keyed by kid and the wrapped value, so a rotated or
 * re-wrapped key is never served from a stale entry; never written anywhere.
 */
export interface WrapKeyCache {
  /** The node key's unwrapped wrap_key; shared by the cache, so callers must not zero it. */
  get(record: NodeKeyRecord): Promise<Buffer>;
}

export function createWrapKeyCache(wrapper: KeyWrapper): WrapKeyCache {
  const entries = new Map<string, { key: Buffer; expires: number }>();
  return {
    async get(record: NodeKeyRecord): Promise<Buffer> {
      const cacheKey = `${record.kid}:${record.wrappedWrapKey}`;
      const hit = entries.get(cacheKey);
      if (hit !== undefined && hit.expires > Date.now()) return hit.key;
      const key = await wrapper.unwrap(record.wrappedWrapKey, wrapKeyContext(record.nodeId, record.kid));
      if (entries.size >= MAX_ENTRIES) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
      entries.set(cacheKey, { key, expires: Date.now() + TTL_MS });
      return key;
    },
  };
}
