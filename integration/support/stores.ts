import { randomBytes } from "node:crypto";
import { cp, mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import postgres from "postgres";
import { openPglite, openPostgres } from "../../src/platform/db/connect.ts";
import type { Database } from "../../src/platform/db/database.ts";
import { createPgliteTemplate, pgliteScratchRoot, TEMPLATE_VARIABLE } from "./pglite-template.ts";

/**
 * Integration tests run against embedded PGlite always, and against the PostgreSQL server as
 * well when DATABASE_URL is set (CI sets it). Each test file gets its own database, so files
 * can run in parallel without seeing each other's rows.
 */
export type StoreKind = "pglite" | "postgres";

export function storeKinds(): StoreKind[] {
  return process.env.DATABASE_URL === undefined || process.env.DATABASE_URL === "" ? ["pglite"] : ["pglite", "postgres"];
}

export interface IsolatedStore {
  readonly kind: StoreKind;
  readonly db: Database;
  /** For child processes: DATABASE_URL for the server, or the PGlite data directory. */
  readonly env: Readonly<Record<string, string>>;
  /** Opens a second, independent connection to the same database (another "process"). */
  reopen(): Promise<Database>;
  dispose(): Promise<void>;
}

function serverUrl(): string {
  const url = process.env.DATABASE_URL;
  if (url === undefined || url === "") throw new Error("DATABASE_URL is not set");
  return url;
}

export function databaseUrlFor(name: string): string {
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

async function createServerDatabase(): Promise<IsolatedStore> {
  const name = `custos_t_${randomBytes(6).toString("hex")}`;
  const admin = postgres(serverUrl(), { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrlFor(name);
  const opened: Database[] = [];
  const open = () => {
    const db = openPostgres({ url });
    opened.push(db);
    return db;
  };
  return {
    kind: "postgres",
    db: open(),
    env: { DATABASE_URL: url },
    reopen: () => Promise.resolve(open()),
    async dispose() {
      for (const db of opened) await db.close();
      const dropper = postgres(serverUrl(), { max: 1, onnotice: () => undefined });
      try {
        await dropper.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

/** The run's initialised PGlite directory (global setup), or one made once for this process. */
let localTemplate: Promise<string> | undefined;
function pgliteTemplate(): Promise<string> {
  const shared = process.env[TEMPLATE_VARIABLE];
  if (shared !== undefined && shared !== "") return Promise.resolve(shared);
  localTemplate ??= createPgliteTemplate();
  return localTemplate;
}

/**
 * PGlite in a temporary directory, copied from an initialised template (an initdb per store
 * would cost several seconds each), on a memory file system where there is one. In a directory
 * rather than in PGlite's memory, which also lets a CLI run open the same data after this
 * handle closes: PGlite is single-process.
 */
async function createPgliteDatabase(): Promise<IsolatedStore> {
  const dataRoot = await mkdtemp(path.join(pgliteScratchRoot(), "custos-pglite-"));
  const dataDir = path.join(dataRoot, "pglite");
  await cp(await pgliteTemplate(), dataDir, { recursive: true });
  const db = await openPglite({ dataDir });
  return {
    kind: "pglite",
    db,
    env: { CUSTOS_DATA_DIR: dataRoot },
    reopen: () => openPglite({ dataDir }),
    async dispose() {
      await db.close().catch(() => undefined);
      await rm(dataRoot, { recursive: true, force: true });
    },
  };
}

export interface IsolatedStoreOptions {
  /** PGlite on disk, so another process can open it after this one closes (every PGlite store now is). */
  readonly pgliteOnDisk?: boolean;
}

export function createIsolatedStore(kind: StoreKind, _options: IsolatedStoreOptions = {}): Promise<IsolatedStore> {
  return kind === "postgres" ? createServerDatabase() : createPgliteDatabase();
}

/**
 * A fresh CUSTOS_DATA_DIR whose embedded database is already initialised (a copy of the
 * run's template, no schema): a `custos serve` on it starts as on a new install, without
 * waiting seconds for initdb.
 */
export async function seededDataDir(prefix: string): Promise<string> {
  const dataRoot = await mkdtemp(path.join(pgliteScratchRoot(), prefix));
  await cp(await pgliteTemplate(), path.join(dataRoot, "pglite"), { recursive: true });
  return dataRoot;
}
