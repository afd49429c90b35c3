import { createHash } from "node:crypto";
import { chmod, mkdir, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { replaceFileAtomically } from "../../platform/durable-files.ts";

/**
 * Where `custos login` keeps a sign-in: one file per (Custos base URL, domain) under
 * `$XDG_CONFIG_HOME/custos/sign-ins/` (`~/.config` when unset). The file holds only what the
 * admin commands need to present and renew it: the id_token, where it came from, and when it
 * expires. No refresh token: a new sign-in is one browser round trip, and a refresh token
 * would be a long-lived credential on disk. Mode 0600 in a 0700 directory, written atomically.
 */
export interface StoredSignIn {
  readonly base_url: string;
  readonly domain: string;
  readonly issuer: string;
  readonly client_id: string;
  readonly id_token: string;
  /** The id_token's `exp`, seconds since the epoch. */
  readonly expires_at: number;
}

const FIELDS = ["base_url", "domain", "issuer", "client_id", "id_token", "expires_at"] as const;

/** `$XDG_CONFIG_HOME/custos`, or `~/.config/custos` (XDG Base Directory default). */
export function configDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  // The spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const base = xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(env.HOME ?? os.homedir(), ".config");
  return path.join(base, "custos");
}

/** One spelling per Custos: `http://127.0.0.1:8080/` and `http://127.0.0.1:8080` are the same. */
export function normaliseBaseUrl(value: string): string {
  const url = new URL(value);
  let spelled = `${url.origin}${url.pathname}`;
  while (spelled.endsWith("/")) spelled = spelled.slice(0, -1);
  return spelled;
}

function signInsDirectory(configDir: string): string {
  return path.join(configDir, "sign-ins");
}

/** A fixed-length name: neither the URL nor the domain can steer the path. */
export function signInFile(configDir: string, baseUrl: string, domain: string): string {
  const key = createHash("sha256").update(`${normaliseBaseUrl(baseUrl)}\n${domain}`).digest("hex").slice(0, 32);
  return path.join(signInsDirectory(configDir), `${key}.json`);
}

function isStoredSignIn(value: unknown): value is StoredSignIn {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Record<string, unknown>;
  return FIELDS.every((field) => (field === "expires_at" ? Number.isSafeInteger(record[field]) : typeof record[field] === "string"));
}

/** Only the known fields reach the disk, whatever the caller's object carries. */
function onlyFields(signIn: StoredSignIn): StoredSignIn {
  return {
    base_url: normaliseBaseUrl(signIn.base_url),
    domain: signIn.domain,
    issuer: signIn.issuer,
    client_id: signIn.client_id,
    id_token: signIn.id_token,
    expires_at: signIn.expires_at,
  };
}

export async function saveSignIn(configDir: string, signIn: StoredSignIn): Promise<string> {
  const directory = signInsDirectory(configDir);
  await mkdir(directory, { recursive: true, mode: 0o700 });
  // mkdir's mode does not apply to a directory that already existed: make sure of it.
  await chmod(configDir, 0o700);
  await chmod(directory, 0o700);
  const file = signInFile(configDir, signIn.base_url, signIn.domain);
  await replaceFileAtomically(file, `${JSON.stringify(onlyFields(signIn))}\n`);
  return file;
}

/** The stored sign-in, or undefined when there is none (or the file is not one of ours). */
export async function loadSignIn(configDir: string, baseUrl: string, domain: string): Promise<StoredSignIn | undefined> {
  let text: string;
  try {
    text = await readFile(signInFile(configDir, baseUrl, domain), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const parsed = parseStored(text);
  // A file that does not name this (base URL, domain) is not this sign-in.
  return parsed?.base_url === normaliseBaseUrl(baseUrl) && parsed.domain === domain ? parsed : undefined;
}

function parseStored(text: string): StoredSignIn | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isStoredSignIn(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Every stored sign-in, for `custos whoami` without a domain. */
export async function listSignIns(configDir: string): Promise<StoredSignIn[]> {
  let names: string[];
  try {
    names = await readdir(signInsDirectory(configDir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const found: StoredSignIn[] = [];
  for (const name of names.filter((each) => /^[0-9a-f]{32}\.json$/.test(each)).sort()) {
    const parsed = parseStored(await readFile(path.join(signInsDirectory(configDir), name), "utf8"));
    if (parsed !== undefined) found.push(parsed);
  }
  return found;
}

/** True when there was a sign-in to remove. */
export async function removeSignIn(configDir: string, baseUrl: string, domain: string): Promise<boolean> {
  const file = signInFile(configDir, baseUrl, domain);
  try {
    await rm(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

/** What `custos whoami` shows: claims only, never the token. */
export interface SignInClaims {
  readonly sub: string | undefined;
  readonly acr: string | undefined;
  readonly amr: readonly string[] | undefined;
  readonly auth_time: number | undefined;
  readonly exp: number | undefined;
}

/**
 * The id_token's payload, read without verifying it: for display and the local expiry check
 * only. Custos verifies the token on every call; nothing here decides access.
 */
export function claimsOf(idToken: string): SignInClaims {
  const payload = idToken.split(".")[1];
  let record: Record<string, unknown> = {};
  try {
    const value: unknown = JSON.parse(Buffer.from(payload ?? "", "base64url").toString("utf8"));
    if (typeof value === "object" && value !== null) record = value as Record<string, unknown>;
  } catch {
    // Not a JWT: every claim is unknown.
  }
  const text = (value: unknown) => (typeof value === "string" ? value : undefined);
  const seconds = (value: unknown) => (typeof value === "number" && Number.isFinite(value) ? value : undefined);
  const amr = record.amr;
  return {
    sub: text(record.sub),
    acr: text(record.acr),
    amr: Array.isArray(amr) && amr.every((each) => typeof each === "string") ? amr : undefined,
    auth_time: seconds(record.auth_time),
    exp: seconds(record.exp),
  };
}
