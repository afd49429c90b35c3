/**
 * A second process for the cross-process append test: appends `count` events concurrently
 * to one chain in the PostgreSQL database named by DATABASE_URL, then prints how many
 * committed. It connects first, says "ready" on stderr and waits for a line on stdin, so
 * that the test can start both processes' appends at the same moment.
 */
import { openPostgres } from "../../src/platform/db/connect.ts";
import { createGroupCommitAppender } from "../../src/audit/group-commit-appender.ts";

const [chain = "shared", countText = "32"] = process.argv.slice(2);
const url = process.env.DATABASE_URL;
if (url === undefined) throw new Error("DATABASE_URL is required");
const db = openPostgres({ url });
const appender = createGroupCommitAppender({ db, timeoutMs: 20_000, maxBatchSize: 4 });
await db.query("SELECT 1");
process.stderr.write("ready\n");
await new Promise<void>((resolve) => process.stdin.once("data", () => { resolve(); }));
process.stdin.pause();
const results = await Promise.allSettled(
  Array.from({ length: Number(countText) }, (_, n) =>
    appender.append({
      chain,
      actor: "node:worker",
      action: "secret.read",
      resource: `secret:${chain}/x`,
      decision: "granted",
      reason: "ok",
      requestId: `worker-${String(n)}`,
      details: { process: "worker", n },
    }),
  ),
);
await db.close();
process.stdout.write(JSON.stringify({ committed: results.filter((r) => r.status === "fulfilled").length }));
