import { readFile } from "node:fs/promises";
import { signingKeyContext } from "../../../access/signing-keys.ts";
import { signingKeyTable, type SigningKeyPurpose } from "../../../access/signing-key-repo.ts";
import { WRAPPED_PREFIX, WRAPPING_CONTEXT as AUDIT_KEY_CONTEXT } from "../../../audit/audit-signer.ts";
import { wrapKeyContext } from "../../../nodes/node-keys.ts";
import type { SqlSession } from "../../../platform/db/database.ts";
import { isCustosError } from "../../../platform/errors.ts";
import { replaceFileAtomically } from "../../../platform/durable-files.ts";

/**
 * `custos backend rewrap`: every stored ciphertext made by the Transit key (node wrap keys,
 * grant and event signing keys, the audit key file) is rewrapped to the key's newest version, so that an
 * operator can rotate the key and then raise min_decryption_version without locking anything
 * out (docs/openbao.md, "Rotating the Transit key"). Idempotent: a ciphertext already at the
 * newest version is left alone. A row is replaced only if it still holds the ciphertext that
 * was rewrapped (a concurrent change wins). The key material itself never leaves OpenBao.
 */

/** The adapter's part that rewrap needs (OpenBaoSecretBackend). */
export interface Rewrapper {
  rewrap(wrapped: string, context: string): Promise<string>;
}

export interface RewrapTally {
  /** "node keys", "grant signing keys", "event signing keys", "the audit key file". */
  readonly what: string;
  rewrapped: number;
  current: number;
  /** The first failure's cause, for the summary; every failure is counted. */
  failed: number;
  firstFailure: string | undefined;
}

interface StoredCiphertext {
  readonly wrapped: string;
  readonly context: string;
  /** Replaces `wrapped` with `next`; false when the stored value changed meanwhile. */
  replace(next: string): Promise<boolean>;
}

const VERSION = /^vault:v(\d+):/;

/** The key version a Transit ciphertext names, or undefined for anything else (a local ciphertext). */
export function ciphertextVersion(wrapped: string): number | undefined {
  const match = VERSION.exec(wrapped);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

function describeFailure(error: unknown): string {
  if (isCustosError(error)) return error.cause instanceof Error ? error.cause.message : (error.detail ?? error.message);
  return error instanceof Error ? error.message : "unknown error";
}

async function rewrapEach(what: string, items: readonly StoredCiphertext[], latest: number, bao: Rewrapper): Promise<RewrapTally> {
  const tally: RewrapTally = { what, rewrapped: 0, current: 0, failed: 0, firstFailure: undefined };
  for (const item of items) {
    const version = ciphertextVersion(item.wrapped);
    if (version !== undefined && version >= latest) {
      tally.current += 1;
      continue;
    }
    try {
      const next = await bao.rewrap(item.wrapped, item.context);
      // A concurrent change (a rotation retired and replaced the row) is newer than ours: keep it.
      if (await item.replace(next)) tally.rewrapped += 1;
      else tally.current += 1;
    } catch (error) {
      tally.failed += 1;
      tally.firstFailure ??= describeFailure(error);
    }
  }
  return tally;
}

async function tableExists(db: SqlSession, table: string): Promise<boolean> {
  const [row] = await db.query<{ present: boolean }>("SELECT to_regclass($1) IS NOT NULL AS present", [table]);
  return row?.present === true;
}

async function nodeKeys(db: SqlSession): Promise<StoredCiphertext[]> {
  if (!(await tableExists(db, "node_secret_keys"))) return [];
  const rows = await db.query<{ kid: string; node_id: string; wrapped_wrap_key: string }>("SELECT kid, node_id::text AS node_id, wrapped_wrap_key FROM node_secret_keys ORDER BY kid");
  return rows.map((row) => ({
    wrapped: row.wrapped_wrap_key,
    context: wrapKeyContext(row.node_id, row.kid),
    replace: async (next) =>
      (await db.query("UPDATE node_secret_keys SET wrapped_wrap_key = $1 WHERE kid = $2 AND wrapped_wrap_key = $3 RETURNING kid", [next, row.kid, row.wrapped_wrap_key])).length === 1,
  }));
}

/** A purpose's domain signing keys (grant or event), each under its own wrapping context. */
async function signingKeys(db: SqlSession, purpose: SigningKeyPurpose): Promise<StoredCiphertext[]> {
  const table = signingKeyTable(purpose);
  if (!(await tableExists(db, table))) return [];
  const rows = await db.query<{ domain: string; kid: string; wrapped_private_key: string }>(`SELECT domain, kid, wrapped_private_key FROM ${table} ORDER BY domain, kid`);
  return rows.map((row) => ({
    wrapped: row.wrapped_private_key,
    context: signingKeyContext(purpose, row.domain, row.kid),
    replace: async (next) =>
      (
        await db.query(`UPDATE ${table} SET wrapped_private_key = $1 WHERE domain = $2 AND kid = $3 AND wrapped_private_key = $4 RETURNING kid`, [
          next,
          row.domain,
          row.kid,
          row.wrapped_private_key,
        ])
      ).length === 1,
  }));
}

/** The audit key file, when it exists and is wrapped (a plain PEM file has nothing to rewrap). */
async function auditKeyFile(file: string): Promise<StoredCiphertext[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  if (!text.startsWith(WRAPPED_PREFIX)) return [];
  const wrapped = text.slice(WRAPPED_PREFIX.length).trim();
  return [
    {
      wrapped,
      context: AUDIT_KEY_CONTEXT,
      replace: async (next) => {
        // Unchanged since it was read: a concurrent rewrap already wrote a newer one otherwise.
        if ((await readFile(file, "utf8")).slice(WRAPPED_PREFIX.length).trim() !== wrapped) return false;
        await replaceFileAtomically(file, `${WRAPPED_PREFIX}${next}\n`);
        return true;
      },
    },
  ];
}

export interface RewrapOptions {
  readonly db: SqlSession;
  readonly auditKeyFile: string;
  readonly bao: Rewrapper;
  /** The key's newest version: ciphertexts at it are current. */
  readonly latest: number;
  /** One line per kind of material, as it finishes. */
  readonly progress: (tally: RewrapTally) => void;
}

/** Rewraps everything, kind by kind; returns one tally per kind. Failures are counted, not thrown. */
export async function rewrapStoredMaterial(options: RewrapOptions): Promise<RewrapTally[]> {
  const sources: [string, () => Promise<StoredCiphertext[]>][] = [
    ["node keys", () => nodeKeys(options.db)],
    ["grant signing keys", () => signingKeys(options.db, "grant")],
    ["event signing keys", () => signingKeys(options.db, "event")],
    ["the audit key file", () => auditKeyFile(options.auditKeyFile)],
  ];
  const tallies: RewrapTally[] = [];
  for (const [what, load] of sources) {
    const tally = await rewrapEach(what, await load(), options.latest, options.bao);
    options.progress(tally);
    tallies.push(tally);
  }
  return tallies;
}
