import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { constants as fsConstants, readFileSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { ConfigError } from "../../platform/config.ts";
import { parseDomainId, parseSecretName } from "../../platform/names.ts";
import type { ReadinessProbe } from "../../platform/readiness.ts";
import { backendUnavailable, SecretBackendFailure, unwrapRejected } from "../backend-errors.ts";
import type { SecretBackend, StoredSecret, WrittenSecret } from "../secret-backend.ts";
import { publishFileExclusively } from "../../platform/durable-files.ts";

/**
 * The development secret backend: AES-256-GCM files under `<dataDir>/secrets/`, with one
 * 32-byte key in `<dataDir>/local-backend.key` (mode 0600). It stands in for OpenBao when
 * OPENBAO_ADDR is unset and refuses to exist under NODE_ENV=production: the key sits next to
 * the ciphertexts, which is fine for a laptop and wrong for a fleet.
 *
 * Layout: `secrets/<domain>/<name>/v<10 digits>.secret`, one file per version, each
 * `iv | ciphertext | tag` with the domain, name and version as associated data, so a file
 * copied to another name or version does not decrypt. Wrapped key material is
 * `local:v1:<base64url(iv | ciphertext | tag)>` with the wrapping context as associated data.
 */

export interface LocalBackendOptions {
  readonly dataDir: string;
  /** Defaults to process.env.NODE_ENV; "production" is refused. */
  readonly nodeEnv?: string | undefined;
}

const KEY_FILE = "local-backend.key";
const SECRETS_DIR = "secrets";
const WRAP_PREFIX = "local:v1:";
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION_FILE = /^v(\d{10})\.secret$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

function refuseInProduction(nodeEnv: string | undefined): void {
  if (nodeEnv === "production") {
    throw new ConfigError(
      "OPENBAO_ADDR",
      "is required under NODE_ENV=production: the local secret backend is for development only (set OPENBAO_ADDR and OPENBAO_TOKEN)",
    );
  }
}

function errorCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error ? String(error.code) : undefined;
}

/** File-system trouble as a safe failure: the code only (messages quote paths; harmless, but noisy). */
function storageFailure(error: unknown): SecretBackendFailure {
  if (error instanceof SecretBackendFailure) return error;
  const code = errorCode(error);
  return new SecretBackendFailure("storage", code === undefined ? "file system error" : `file system error (${code})`);
}

function seal(key: Buffer, plaintext: Uint8Array, aad: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

/** Throws when the blob is too short or does not authenticate under `aad`. */
function open(key: Buffer, blob: Buffer, aad: Buffer): Buffer {
  if (blob.length < IV_BYTES + TAG_BYTES) throw new Error("too short");
  const decipher = createDecipheriv("aes-256-gcm", key, blob.subarray(0, IV_BYTES));
  decipher.setAAD(aad);
  decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
  return Buffer.concat([decipher.update(blob.subarray(IV_BYTES, blob.length - TAG_BYTES)), decipher.final()]);
}

/** Separate keys for values at rest and for wrapping, both from the one key file. */
function subkey(master: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), `custos/local/v1/${purpose}`, KEY_BYTES));
}

async function ensurePrivateDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
}

async function readKeyFile(file: string): Promise<Buffer | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, "r");
  } catch (error) {
    if (errorCode(error) === "ENOENT") return undefined;
    throw error;
  }
  try {
    const { mode } = await handle.stat();
    // Like ssh with a private key: a key others can read is refused rather than used.
    if (process.platform !== "win32" && (mode & 0o077) !== 0) {
      throw new SecretBackendFailure("storage", `${file} is accessible to other users; chmod 600 it`);
    }
    const key = await handle.readFile();
    if (key.length !== KEY_BYTES) throw new SecretBackendFailure("storage", `${file} does not hold a ${KEY_BYTES}-byte key`);
    return key;
  } finally {
    await handle.close();
  }
}

async function loadOrCreateKey(dataDir: string): Promise<Buffer> {
  await ensurePrivateDir(dataDir);
  const file = path.join(dataDir, KEY_FILE);
  const existing = await readKeyFile(file);
  if (existing !== undefined) return existing;
  const fresh = randomBytes(KEY_BYTES);
  if (await publishFileExclusively(file, fresh)) return fresh;
  // Another process created it between our read and our write: use theirs.
  fresh.fill(0);
  const theirs = await readKeyFile(file);
  if (theirs === undefined) throw new SecretBackendFailure("storage", `${file} vanished while being created`);
  return theirs;
}

async function latestVersion(dir: string): Promise<number> {
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return 0;
    throw error;
  }
  return entries.reduce((latest, entry) => {
    const match = VERSION_FILE.exec(entry);
    return match?.[1] === undefined ? latest : Math.max(latest, Number(match[1]));
  }, 0);
}

/**
 * One version file, read synchronously. This backend is for development only (refused under
 * NODE_ENV=production) and its files are small and in the page cache: a synchronous read is
 * about 15 µs, where the promise API's open, stat, read and close are four thread-pool round
 * trips that cost the event loop about a sixth of a secret read's CPU.
 */
function readIfPresent(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return undefined;
    throw error;
  }
}

function versionFile(dir: string, version: number): string {
  return path.join(dir, `v${String(version).padStart(10, "0")}.secret`);
}

function atRestAad(domain: string, name: string, version: number): Buffer {
  return Buffer.from(`custos/local/v1/secret:${domain}/${name}:${version}`, "utf8");
}

class LocalSecretBackend implements SecretBackend {
  readonly readiness: ReadinessProbe;
  readonly #secretsDir: string;
  readonly #atRestKey: Buffer;
  readonly #wrapKey: Buffer;
  #closed = false;

  constructor(secretsDir: string, masterKey: Buffer) {
    this.#secretsDir = secretsDir;
    this.#atRestKey = subkey(masterKey, "secret-at-rest");
    this.#wrapKey = subkey(masterKey, "key-wrap");
    this.readiness = { name: "secret_backend", check: () => this.#checkReady() };
  }

  async writeSecret(domain: string, name: string, value: Buffer): Promise<WrittenSecret> {
    const dir = this.#secretDir(domain, name);
    try {
      this.#refuseWhenClosed();
      await ensurePrivateDir(dir);
      // A concurrent writer may take the version we computed; then try the next one.
      for (let attempt = 0; attempt < 64; attempt += 1) {
        const version = (await latestVersion(dir)) + 1;
        const sealed = seal(this.#atRestKey, value, atRestAad(domain, name, version));
        if (await publishFileExclusively(versionFile(dir, version), sealed)) return { version };
      }
      throw new SecretBackendFailure("storage", "too many concurrent writers for one secret");
    } catch (error) {
      throw backendUnavailable("store the secret", storageFailure(error));
    }
  }

  async readSecret(domain: string, name: string, wanted?: number): Promise<StoredSecret | undefined> {
    const dir = this.#secretDir(domain, name);
    try {
      this.#refuseWhenClosed();
      if (wanted !== undefined && (!Number.isSafeInteger(wanted) || wanted < 1)) return undefined;
      // A known version is one file: no directory listing on the read path (the version
      // Custos recorded is what every node read asks for).
      const version = wanted ?? (await latestVersion(dir));
      if (version === 0) return undefined;
      const blob = readIfPresent(versionFile(dir, version));
      return blob === undefined ? undefined : { value: this.#openAtRest(blob, domain, name, version), version };
    } catch (error) {
      throw backendUnavailable("read the secret", storageFailure(error));
    }
  }

  async deleteSecret(domain: string, name: string): Promise<void> {
    const dir = this.#secretDir(domain, name);
    try {
      this.#refuseWhenClosed();
      await fs.rm(dir, { recursive: true, force: true });
    } catch (error) {
      throw backendUnavailable("delete the secret", storageFailure(error));
    }
  }

  wrap(plaintext: Uint8Array, context: string): Promise<string> {
    try {
      this.#refuseWhenClosed();
    } catch (error) {
      return Promise.reject(backendUnavailable("wrap key material", storageFailure(error)));
    }
    const blob = seal(this.#wrapKey, plaintext, Buffer.from(context, "utf8"));
    return Promise.resolve(`${WRAP_PREFIX}${blob.toString("base64url")}`);
  }

  unwrap(wrapped: string, context: string): Promise<Buffer> {
    try {
      this.#refuseWhenClosed();
    } catch (error) {
      return Promise.reject(backendUnavailable("unwrap key material", storageFailure(error)));
    }
    const encoded = wrapped.startsWith(WRAP_PREFIX) ? wrapped.slice(WRAP_PREFIX.length) : "";
    if (!BASE64URL.test(encoded)) {
      return Promise.reject(unwrapRejected(new SecretBackendFailure("rejected", "not a local:v1 ciphertext")));
    }
    try {
      return Promise.resolve(open(this.#wrapKey, Buffer.from(encoded, "base64url"), Buffer.from(context, "utf8")));
    } catch {
      return Promise.reject(unwrapRejected(new SecretBackendFailure("rejected", "did not authenticate under the context")));
    }
  }

  close(): Promise<void> {
    // Best effort: the key bytes do not outlive the backend in this process's heap.
    this.#closed = true;
    this.#atRestKey.fill(0);
    this.#wrapKey.fill(0);
    return Promise.resolve();
  }

  async #checkReady(): Promise<void> {
    try {
      this.#refuseWhenClosed();
      await fs.access(this.#secretsDir, fsConstants.R_OK | fsConstants.W_OK);
    } catch (error) {
      throw backendUnavailable("reach its data directory", storageFailure(error));
    }
  }

  #openAtRest(blob: Buffer, domain: string, name: string, version: number): Buffer {
    try {
      return open(this.#atRestKey, blob, atRestAad(domain, name, version));
    } catch {
      throw new SecretBackendFailure("storage", "a stored version did not authenticate (tampered or moved)");
    }
  }

  #refuseWhenClosed(): void {
    if (this.#closed) throw new SecretBackendFailure("storage", "the local backend is closed");
  }

  /** Validated before any path is built: a name can never climb out of the secrets directory. */
  #secretDir(domain: string, name: string): string {
    return path.join(this.#secretsDir, parseDomainId(domain), parseSecretName(name));
  }
}

/**
 * Opens (creating on first use) the local development backend under `dataDir`.
 * Throws ConfigError naming OPENBAO_ADDR under NODE_ENV=production, before touching any file;
 * secret_backend_unavailable when the key file is unusable (wrong size, readable by others).
 */
export async function openLocalBackend(options: LocalBackendOptions): Promise<SecretBackend> {
  refuseInProduction(options.nodeEnv ?? process.env.NODE_ENV);
  const secretsDir = path.join(options.dataDir, SECRETS_DIR);
  try {
    const masterKey = await loadOrCreateKey(options.dataDir);
    await ensurePrivateDir(secretsDir);
    // mkdir's mode applies only to a directory it creates (and passes through the umask).
    await fs.chmod(secretsDir, 0o700);
    const backend = new LocalSecretBackend(secretsDir, masterKey);
    masterKey.fill(0);
    return backend;
  } catch (error) {
    throw backendUnavailable("open its key file", storageFailure(error));
  }
}
