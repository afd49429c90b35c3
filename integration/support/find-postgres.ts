import postgres from "postgres";

/**
 * `npm test` is the full suite: integration tests run on PGlite always and on the PostgreSQL
 * server as well. When DATABASE_URL is not set but a server answers at the default local
 * address, the run uses it (a database of its own, dropped at the end); when none answers,
 * the run says loudly what it left out and how to include it.
 */
const DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres";

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.DATABASE_URL !== undefined && process.env.DATABASE_URL !== "") return undefined;
  const admin = postgres(DEFAULT_SERVER, { max: 1, connect_timeout: 2, onnotice: () => undefined });
  try {
    await admin`SELECT 1`;
  } catch {
    await admin.end({ timeout: 1 }).catch(() => undefined);
    process.stderr.write(
      "\n  ⚠  NOT RUN: the integration tests against the PostgreSQL server (no DATABASE_URL, and nothing answers at 127.0.0.1:5432).\n" +
        "     Only the PGlite half ran. To run everything: DATABASE_URL=postgres://user@host:5432/db npm test\n\n",
    );
    return undefined;
  }
  const name = `custos_run_${String(Date.now())}_${String(process.pid)}`;
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(DEFAULT_SERVER);
  url.pathname = `/${name}`;
  process.env.DATABASE_URL = url.toString();
  process.stderr.write(`\n  integration tests run on PGlite and on the PostgreSQL server at 127.0.0.1:5432 (database ${name})\n\n`);
  return async () => {
    const dropper = postgres(DEFAULT_SERVER, { max: 1, onnotice: () => undefined });
    try {
      await dropper.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await dropper.end();
    }
  };
}
