import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * PGlite is a single-process database: a second process opening the same directory corrupts
 * it or aborts inside WebAssembly with nothing a person can act on. The first process writes
 * its pid to a lock file in the directory; a second one is refused with the holder's pid and
 * what to do. A lock left by a process that no longer exists is taken over.
 */

const LOCK_FILE = "custos.lock";

export class DataDirectoryInUse extends Error {
  readonly pid: number;

  constructor(directory: string, pid: number) {
    super(
      `the embedded database in ${directory} is in use by another Custos process (pid ${String(pid)}); ` +
        "the embedded database serves one process at a time: stop that process (custos dev or serve), " +
        "or point CUSTOS_DATA_DIR elsewhere",
    );
    this.name = "DataDirectoryInUse";
    this.pid = pid;
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readHolder(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export interface DataDirectoryLock {
  release(): void;
}

/** Takes the directory's lock for this process, or throws DataDirectoryInUse. */
export function lockDataDirectory(directory: string): DataDirectoryLock {
  const file = path.join(directory, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      writeFileSync(file, `${String(process.pid)}\n`, { flag: "wx", mode: 0o600 });
      return {
        release() {
          if (readHolder(file) === process.pid) rmSync(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = readHolder(file);
    // This process already holds it (a second handle in one process, as tests open one).
    if (holder === process.pid) return { release: () => undefined };
    if (holder !== undefined && processExists(holder)) throw new DataDirectoryInUse(directory, holder);
    rmSync(file, { force: true });
  }
  throw new Error(`could not take the lock file ${file}`);
}
