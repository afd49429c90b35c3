import { createCipheriv, randomBytes } from "node:crypto";
import { compactDecrypt } from "jose";

const WRAP_KEY_BYTES = 32;
const GCM_IV_BYTES = 12;

/**
 * A secret leaves Custos only as a compact JWE (RFC 7516) under the node's wrap_key:
 * `alg: dir`, `enc: A256GCM`, and the NSK's `kid` in the protected header, which is
 * authenticated as AAD, so a ciphertext cannot be relabelled for another key.
 *
 * Built with node:crypto rather than jose's CompactEncrypt, which goes through WebCrypto: for
 * a value of a few bytes that is about 14 times the CPU (28 against 386 µs here), on every
 * read. With `dir` the serialisation is all there is to it (RFC 7516 §7.1, §5.1): the header's
 * base64url is the AAD, the encrypted key is empty, a fresh random 96-bit IV per value
 * (RFC 7518 §5.3). Nodes decrypt with jose (unwrapOnNode), which the tests hold it to.
 */
export function wrapForNode(plaintext: Uint8Array, wrapKey: Uint8Array, kid: string): Promise<string> {
  if (wrapKey.length !== WRAP_KEY_BYTES) return Promise.reject(new RangeError("a wrap key is 32 bytes"));
  const header = Buffer.from(JSON.stringify({ alg: "dir", enc: "A256GCM", kid })).toString("base64url");
  const iv = randomBytes(GCM_IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", wrapKey, iv);
  cipher.setAAD(Buffer.from(header, "ascii"));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const tag = cipher.getAuthTag();
  return Promise.resolve(`${header}..${iv.toString("base64url")}.${ciphertext.toString("base64url")}.${tag.toString("base64url")}`);
}

/** The node side: decrypts and checks the header is exactly what Custos sends. */
export async function unwrapOnNode(jwe: string, wrapKey: Uint8Array, expectedKid: string): Promise<Buffer> {
  const { plaintext, protectedHeader } = await compactDecrypt(jwe, wrapKey, { keyManagementAlgorithms: ["dir"], contentEncryptionAlgorithms: ["A256GCM"] });
  if (protectedHeader.kid !== expectedKid) throw new Error("the JWE was not made for this key");
  return Buffer.from(plaintext);
}
