import type { KeyWrapper } from "../platform/key-wrapping/key-wrapper.ts";
import type { NewNodeKey } from "./node-repo.ts";
import { bearerSecretDigest, deriveBearerSecret, deriveWrapKey, newKid, newNsk } from "./nsk.ts";

export function wrapKeyContext(nodeId: string, kid: string): string {
  return `custos/v1/wrap-key:${nodeId}:${kid}`;
}

export interface IssuedNodeKey {
  readonly kid: string;
  /** base64url; shown to the node once and never stored. */
  readonly nsk: string;
  readonly record: NewNodeKey;
}

/** A fresh NSK for a node: what is stored is its bearer digest and its wrapped wrap_key. */
export async function issueNodeKey(wrapper: KeyWrapper, nodeId: string): Promise<IssuedNodeKey> {
  const nsk = newNsk();
  const kid = newKid();
  const bearer = deriveBearerSecret(nsk);
  const wrapKey = deriveWrapKey(nsk);
  try {
    const wrappedWrapKey = await wrapper.wrap(wrapKey, wrapKeyContext(nodeId, kid));
    return {
      kid,
      nsk: nsk.toString("base64url"),
      record: { kid, nodeId, bearerSecretSha256: bearerSecretDigest(bearer), wrappedWrapKey },
    };
  } finally {
    nsk.fill(0);
    bearer.fill(0);
    wrapKey.fill(0);
  }
}
