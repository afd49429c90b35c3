import canonicalize from "canonicalize";
import type { SqlSession } from "../platform/db/database.ts";
import type { AuditKeyVerifier, AuditSigner } from "./audit-signer.ts";
import { genesisHash } from "./audit-record.ts";
import { ensureChain, insertCheckpoint, readChainHead } from "./audit-store.ts";

export const CHECKPOINT_FORMAT = "custos-audit-checkpoint/v1";

/** A chain head signed with the audit key; auditors keep copies outside the database. */
export interface SignedCheckpoint {
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly chain: string;
  /** 0 for an empty chain, whose hash is then the genesis value. */
  readonly seq: number;
  readonly hash: string;
  /** When the head event was recorded; null for an empty chain. */
  readonly at: string | null;
  readonly signed_at: string;
  readonly key_id: string;
  readonly alg: "EdDSA";
  /** base64url Ed25519 signature over the JCS of every other member. */
  readonly signature: string;
}

export function signedBytes(document: object): Buffer {
  const unsigned = Object.fromEntries(Object.entries(document).filter(([key]) => key !== "signature"));
  const text = canonicalize(unsigned);
  if (text === undefined) throw new TypeError("document cannot be canonicalised");
  return Buffer.from(text, "utf8");
}

export async function signDocument<const T extends Record<string, unknown>>(
  signer: AuditSigner,
  unsigned: T,
): Promise<T & { key_id: string; alg: "EdDSA"; signature: string }> {
  const withKey = { ...unsigned, key_id: signer.keyId, alg: "EdDSA" as const };
  const signature = await signer.sign(signedBytes(withKey));
  return { ...withKey, signature: signature.toString("base64url") };
}

/**
 * Checks a checkpoint's or a manifest's signature. The document's own time (`signed_at` of a
 * checkpoint, `updated_at` of a manifest) is handed to the verifier, which holds it against
 * the key's validity interval when it knows one.
 */
export async function verifyDocumentSignature(
  verifier: AuditKeyVerifier,
  document: object,
): Promise<boolean> {
  const { key_id: keyId, signature, alg, signed_at: signedAt, updated_at: updatedAt } = document as Record<string, unknown>;
  if (typeof keyId !== "string" || typeof signature !== "string" || alg !== "EdDSA") return false;
  if (!/^[A-Za-z0-9_-]+$/.test(signature)) return false;
  const at = typeof signedAt === "string" ? signedAt : typeof updatedAt === "string" ? updatedAt : undefined;
  return verifier.verify(keyId, signedBytes(document), Buffer.from(signature, "base64url"), at);
}

/**
 * Signs the chain's current head and keeps a copy in the database; the verb behind POST
 * …/audit/checkpoints, and what the audit schedule runs inside its locked transaction.
 */
export async function signCheckpoint(
  db: SqlSession,
  signer: AuditSigner,
  chain: string,
  clock: () => Date = () => new Date(),
): Promise<SignedCheckpoint> {
  const head = await readChainHead(db, chain);
  const checkpoint: SignedCheckpoint = await signDocument(signer, {
    format: CHECKPOINT_FORMAT,
    chain,
    seq: head?.seq ?? 0,
    hash: head?.hash ?? genesisHash(chain),
    at: head?.at ?? null,
    signed_at: clock().toISOString(),
  });
  // The in-database copy is a convenience; the chain row must exist for its foreign key.
  await ensureChain(db, chain, genesisHash(chain));
  await insertCheckpoint(db, checkpoint);
  return checkpoint;
}

/** Checks the shape of a checkpoint read from a file; the signature is checked by the verifier. */
export function parseCheckpoint(value: unknown): SignedCheckpoint {
  if (value === null || typeof value !== "object") throw new TypeError("a checkpoint is a JSON object");
  const doc = value as Record<string, unknown>;
  const fail = (member: string): never => {
    throw new TypeError(`checkpoint member ${member} is missing or malformed`);
  };
  if (doc.format !== CHECKPOINT_FORMAT) fail("format");
  if (typeof doc.chain !== "string") fail("chain");
  if (typeof doc.seq !== "number" || !Number.isSafeInteger(doc.seq) || doc.seq < 0) fail("seq");
  if (typeof doc.hash !== "string" || !/^[0-9a-f]{64}$/.test(doc.hash)) fail("hash");
  if (doc.at !== null && typeof doc.at !== "string") fail("at");
  if (typeof doc.signed_at !== "string") fail("signed_at");
  if (typeof doc.key_id !== "string") fail("key_id");
  if (doc.alg !== "EdDSA") fail("alg");
  if (typeof doc.signature !== "string") fail("signature");
  return doc as unknown as SignedCheckpoint;
}
