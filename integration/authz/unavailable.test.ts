import { randomUUID } from "node:crypto";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeRef, secretRef } from "../../src/authz/object-ids.ts";
import { openSpiceDbAuthorizer, SpiceDbAuthorizer } from "../../src/authz/spicedb-authorizer.ts";
import { connectSpiceDb } from "../../src/authz/spicedb-client.ts";
import { checkReadiness } from "../../src/platform/readiness.ts";
import { codeOf, POLICIES_DIR } from "./support.ts";

const BOUND_MS = 500;
const read = { resource: secretRef("acme", "db.password"), permission: "read", subject: nodeRef(randomUUID()) } as const;

async function timed(run: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await run().then(() => undefined, (e: unknown) => e);
  return { error, ms: performance.now() - started };
}

describe.each([
  ["a closed port", () => Promise.resolve("127.0.0.1:1")],
  ["a server that accepts and never answers", () => silentServer()],
])("a SpiceDB server at %s", (_name, endpoint) => {
  let authz: SpiceDbAuthorizer;
  let address: string;

  beforeAll(async () => {
    address = await endpoint();
    const rpc = await connectSpiceDb({ endpoint: address, token: "unused", insecure: true }, { deadlineMs: BOUND_MS });
    authz = new SpiceDbAuthorizer(rpc, { timeoutMs: BOUND_MS });
  });
  afterAll(() => { authz.close(); });

  it("answers checks with authz_unavailable within the bound, never allowed", async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => timed(() => authz.check(read))));
    for (const { error, ms } of results) {
      expect(codeOf(error)).toBe("authz_unavailable");
      expect(ms).toBeLessThan(BOUND_MS + 400);
    }
  });

  it("answers writes and reads with authz_unavailable within the bound", async () => {
    const write = await timed(() => authz.writeRelationships([], []));
    expect(codeOf(write.error)).toBe("authz_unavailable");
    expect(write.ms).toBeLessThan(BOUND_MS + 400);
    const list = await timed(() => authz.readRelationships({ resourceType: "domain" }));
    expect(codeOf(list.error)).toBe("authz_unavailable");
    expect(list.ms).toBeLessThan(BOUND_MS + 400);
  });

  it("reports not ready", async () => {
    expect(await checkReadiness([authz.readiness], 2000)).toEqual({ ready: false, checks: { authorizer: "unavailable" } });
  });

  it("refuses to open (the schema cannot be written)", async () => {
    const opened = await timed(() => openSpiceDbAuthorizer({
      server: { endpoint: address, token: "unused", insecure: true },
      policiesDir: POLICIES_DIR,
      timeoutMs: BOUND_MS,
    }));
    expect(codeOf(opened.error)).toBe("authz_unavailable");
    expect(opened.ms).toBeLessThan(BOUND_MS + 400);
  });
});

describe("readiness on the embedded engine", () => {
  it("is ok once the schema is written", async () => {
    const authz = await openSpiceDbAuthorizer({ server: undefined, policiesDir: POLICIES_DIR });
    try {
      expect(await checkReadiness([authz.readiness], 2000)).toEqual({ ready: true, checks: { authorizer: "ok" } });
    } finally {
      authz.close();
    }
  });

  it("is unavailable before any schema is written", async () => {
    const authz = new SpiceDbAuthorizer(await connectSpiceDb(undefined));
    try {
      expect(await checkReadiness([authz.readiness], 2000)).toEqual({ ready: false, checks: { authorizer: "unavailable" } });
    } finally {
      authz.close();
    }
  });
});

const silentSockets = new Set<net.Socket>();
let silent: net.Server | undefined;

/** A TCP listener that accepts connections and says nothing: the HTTP/2 handshake never completes. */
async function silentServer(): Promise<string> {
  silent = net.createServer((socket) => { silentSockets.add(socket); });
  await new Promise<void>((resolve) => { silent!.listen(0, "127.0.0.1", resolve); });
  const { port } = silent.address() as net.AddressInfo;
  return `127.0.0.1:${port}`;
}

afterAll(() => {
  for (const socket of silentSockets) socket.destroy();
  silent?.close();
});
