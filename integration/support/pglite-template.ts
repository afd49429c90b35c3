import { accessSync, constants } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";

/**
 * Vitest global setup: one PGlite data directory, initialised once per run (initdb in WASM
 * costs several seconds on this machine; copying its result, under one), that every PGlite
 * store of the run starts from (see stores.ts). Nothing in it but what initdb writes: each
 * store applies the migrations itself, as a fresh install would.
 */
export const TEMPLATE_VARIABLE = "CUSTOS_TEST_PGLITE_TEMPLATE";

/**
 * Where PGlite test data lives: a memory file system (/dev/shm) when the machine has one, so
 * that a store on "disk" writes as fast as one in memory; the temporary directory otherwise.
 */
export function pgliteScratchRoot(): string {
  try {
    accessSync("/dev/shm", constants.W_OK);
    return "/dev/shm";
  } catch {
    return os.tmpdir();
  }
}

export async function createPgliteTemplate(): Promise<string> {
  const root = await mkdtemp(path.join(pgliteScratchRoot(), "custos-pglite-template-"));
  const dataDir = path.join(root, "pglite");
  const pglite = await PGlite.create(dataDir);
  await pglite.query("SELECT 1");
  await pglite.close();
  return dataDir;
}

export default async function setup(): Promise<() => Promise<void>> {
  const dataDir = await createPgliteTemplate();
  // Set before the test processes are forked: they inherit it.
  process.env[TEMPLATE_VARIABLE] = dataDir;
  return async () => {
    await rm(path.dirname(dataDir), { recursive: true, force: true });
  };
}
