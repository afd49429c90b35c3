import { spawn } from "node:child_process";
import { timingSafeEqual } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { replaceFileAtomically, syncDirectory } from "../platform/durable-files.ts";
import type { SecretFileConfig } from "./agent-config.ts";

/**
 * The files the agent keeps current. A write is atomic (temporary file in the same directory,
 * fsync, chmod/chown, rename, directory fsync: replaceFileAtomically), so a program reading the
 * file sees the old value or the new one, never part of one. Unchanged content is not
 * rewritten, so an unchanged secret does not reload its consumer.
 */

async function currentContent(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Writes `value` to the secret's file; "unchanged" when it already held exactly that. */
export async function writeSecretFile(secret: SecretFileConfig, value: Uint8Array): Promise<"written" | "unchanged"> {
  const current = await currentContent(secret.path);
  try {
    if (current !== undefined && current.length === value.length && timingSafeEqual(current, value)) return "unchanged";
  } finally {
    current?.fill(0);
  }
  await replaceFileAtomically(secret.path, value, secret.mode, secret.owner);
  return "written";
}

/** Removes the secret's file (a revoked or deleted secret); "absent" when there was none. */
export async function removeSecretFile(secret: SecretFileConfig): Promise<"removed" | "absent"> {
  try {
    await rm(secret.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "absent";
    throw error;
  }
  await syncDirectory(path.dirname(secret.path));
  return "removed";
}

export type ReloadOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly why: string };

/**
 * Runs a reload command: an argv array, no shell (nothing in a secret's name or value can
 * become a command), stdin closed, output discarded, killed at its timeout. Its failure is the
 * caller's to log; it never stops the agent.
 */
export function runReloadCommand(argv: readonly string[], timeoutMs: number): Promise<ReloadOutcome> {
  const [command, ...args] = argv;
  if (command === undefined) return Promise.resolve({ ok: false, why: "empty command" });
  return new Promise((resolve) => {
    const child = spawn(command, args, { shell: false, stdio: "ignore", timeout: timeoutMs, killSignal: "SIGKILL" });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; }, timeoutMs);
    child.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ ok: false, why: `could not start: ${error.code ?? error.message}` });
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ ok: true });
      else if (timedOut) resolve({ ok: false, why: `timed out after ${String(timeoutMs)} ms` });
      else resolve({ ok: false, why: signal === null ? `exited ${String(code)}` : `ended by ${signal}` });
    });
  });
}
