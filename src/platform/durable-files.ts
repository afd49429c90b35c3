import { randomBytes } from "node:crypto";
import { link, open, rename, rm } from "node:fs/promises";
import path from "node:path";

/**
 * Writing the files Custos keeps (key files, NSK files, sign-ins) so that a crash or a racing
 * writer leaves either the old content or the new, never a torn file: the content goes to a
 * temporary file in the same directory (one filesystem), created exclusively with its final
 * mode and flushed to disk, and only then takes the target's name.
 */

/** A file's numeric owner, for files another account reads (the node agent's secret files). */
export interface FileOwner {
  readonly uid: number;
  readonly gid: number;
}

/**
 * A temporary name beside `file`, written whole and fsynced. The caller publishes or removes
 * it. The mode is set with chmod after the exclusive create, so the umask cannot narrow (or a
 * configured 0640 lose) it; the owner, when given, is set before any content is written.
 */
async function writeSyncedTemporary(file: string, content: string | Uint8Array, mode: number, owner?: FileOwner): Promise<string> {
  const temporary = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temporary, "wx", mode & 0o600);
  try {
    if (owner !== undefined) await handle.chown(owner.uid, owner.gid);
    await handle.chmod(mode);
    await handle.writeFile(content);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  return temporary;
}

/** Flushes a directory, so that a rename, link or removal in it survives a power loss. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Replaces `file` whole (renamed over it), then flushes its directory. */
export async function replaceFileAtomically(file: string, content: string | Uint8Array, mode = 0o600, owner?: FileOwner): Promise<void> {
  const temporary = await writeSyncedTemporary(file, content, mode, owner);
  try {
    await rename(temporary, file);
  } finally {
    await rm(temporary, { force: true });
  }
  await syncDirectory(path.dirname(path.resolve(file)));
}

/**
 * Publishes `file` whole or not at all, and never over an existing one: the temporary file is
 * hard-linked to the name, which fails when the name exists. Two writers racing for the same
 * file cannot overwrite each other, and a reader sees no file or all of it, never the empty
 * file an exclusive create shows while it is still being written. False when `file` exists.
 */
export async function publishFileExclusively(file: string, content: string | Uint8Array, mode = 0o600): Promise<boolean> {
  const temporary = await writeSyncedTemporary(file, content, mode);
  try {
    await link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    await rm(temporary, { force: true });
  }
  await syncDirectory(path.dirname(path.resolve(file)));
  return true;
}
