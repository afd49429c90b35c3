/**
 * The baseline, in its own process (bench/secret-read.bench.ts spawns it): a bare Express
 * endpoint doing one durable INSERT per request on the given database. Prints its URL on
 * stdout once listening; stops on SIGTERM.
 *
 *   DATABASE_URL=… node --import tsx bench/support/baseline-server.ts
 */
import express from "express";
import { openPostgres } from "../../src/platform/db/connect.ts";

const url = process.env.DATABASE_URL;
if (url === undefined || url === "") throw new Error("baseline-server: DATABASE_URL is required");
const db = openPostgres({ url });
await db.query("CREATE TABLE IF NOT EXISTS bench_baseline (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), note text NOT NULL)");
const app = express();
app.get("/baseline", async (_req, res) => {
  await db.query("INSERT INTO bench_baseline (note) VALUES ($1)", ["read"]);
  res.json({ ok: true });
});
const server = app.listen(0, "127.0.0.1");
await new Promise((resolve) => server.once("listening", resolve));
const { port } = server.address() as { port: number };
console.log(`http://127.0.0.1:${String(port)}/baseline`);
process.once("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  void db.close().then(() => process.exit(0));
});
