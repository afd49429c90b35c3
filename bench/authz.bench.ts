// `npm run bench -- authz [seconds]`: single CheckPermission calls against coalesced
// CheckBulkPermissions, both at 64 concurrent callers on the embedded engine, same run.
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { relationship, type CheckRequest } from "../src/authz/authorizer.ts";
import { nodeRef, secretRef } from "../src/authz/object-ids.ts";
import { openSpiceDbAuthorizer, type SpiceDbAuthorizer } from "../src/authz/spicedb-authorizer.ts";

const CONCURRENCY = 64;
const seconds = Number(process.argv[2] ?? "3");
const policiesDir = fileURLToPath(new URL("../policies", import.meta.url));

async function seed(authz: SpiceDbAuthorizer): Promise<CheckRequest[]> {
  const secret = secretRef("bench", "db.password");
  const nodes = Array.from({ length: 256 }, () => nodeRef(randomUUID()));
  await authz.writeRelationships(nodes.filter((_, i) => i % 2 === 0).map((node) => relationship(secret, "reader", node)), []);
  return nodes.map((node) => ({ resource: secret, permission: "read", subject: node }));
}

async function rate(authz: SpiceDbAuthorizer, requests: readonly CheckRequest[]): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const worker = async (offset: number): Promise<void> => {
    for (let i = offset; performance.now() < deadline; i += CONCURRENCY) {
      await authz.check(requests[i % requests.length]!);
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, offset) => worker(offset)));
  return done / ((performance.now() - started) / 1000);
}

async function measure(coalesce: boolean): Promise<{ rate: number; calls: number }> {
  let calls = 0;
  const authz = await openSpiceDbAuthorizer({
    server: undefined,
    policiesDir,
    coalesce,
    hooks: { onCheckBulk: () => { calls++; }, onCheckPermission: () => { calls++; } },
  });
  try {
    const requests = await seed(authz);
    await rate(authz, requests); // warm-up, not counted
    calls = 0;
    return { rate: await rate(authz, requests), calls };
  } finally {
    authz.close();
  }
}

const single = await measure(false);
const coalesced = await measure(true);
const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
console.log(`authz check, embedded SpiceDB, ${CONCURRENCY} concurrent callers, ${seconds} s each`);
console.log(`  single CheckPermission:         ${fmt(single.rate)} checks/s (${fmt(single.calls)} calls)`);
console.log(`  coalesced CheckBulkPermissions: ${fmt(coalesced.rate)} checks/s (${fmt(coalesced.calls)} calls)`);
console.log(`  ratio coalesced / single:       ${(coalesced.rate / single.rate).toFixed(2)}x`);
