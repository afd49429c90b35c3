import { CompactEncrypt, compactDecrypt } from "jose";

/**
 * A secret leaves Custos only as a compact JWE (RFC 7516) under the node's wrap_key:
 * `alg: dir`, `enc: A256GCM`, and the NSK's `kid` in the protected header, which is
 * authenticated as AAD, so a ciphertext cannot be relabelled for another key.
 */
export async function wrapForNode(plaintext: Uint8Array, wrapKey: Uint8Array, kid: string): Promise<string> {
  return new CompactEncrypt(plaintext).setProtectedHeader({ alg: "dir", enc: "A256GCM", kid }).encrypt(wrapKey);
}

/** The node side: decrypts and checks the header is exactly what Custos sends. */
export async function unwrapOnNode(jwe: string, wrapKey: Uint8Array, expectedKid: string): Promise<Buffer> {
  const { plaintext, protectedHeader } = await compactDecrypt(jwe, wrapKey, { keyManagementAlgorithms: ["dir"], contentEncryptionAlgorithms: ["A256GCM"] });
  if (protectedHeader.kid !== expectedKid) throw new Error("the JWE was not made for this key");
  return Buffer.from(plaintext);
}
