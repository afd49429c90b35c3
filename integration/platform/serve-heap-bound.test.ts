import { readFile, rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCliProcess } from "../support/cli.ts";
import { startServeProcess } from "../support/serve-process.ts";
import { seededDataDir } from "../support/stores.ts";

const MB = 1024 * 1024;

/** The V8 heap limit the serving process reports on /metrics. */
async function heapLimitMb(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const bytes = /^custos_nodejs_heap_size_limit_bytes (\S+)$/m.exec(text)?.[1];
  if (bytes === undefined) throw new Error("no custos_nodejs_heap_size_limit_bytes on /metrics");
  return Number(bytes) / MB;
}

/** The processes a process started (Linux /proc). */
async function childPids(pid: number): Promise<number[]> {
  const children = await readFile(`/proc/${String(pid)}/task/${String(pid)}/children`, "utf8").catch(() => "");
  return children.trim().split(/\s+/).filter((entry) => entry !== "").map(Number);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isRunning(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return !isRunning(pid);
}

/**
 * V8's heap limit is the old-generation bound plus the young generation (a few MB under a
 * small bound), so a bound of N MB reads as a little over N.
 */
const expectBoundNear = (limitMb: number, boundMb: number) => {
  expect(limitMb).toBeGreaterThanOrEqual(boundMb);
  expect(limitMb).toBeLessThan(boundMb + 64);
};

describe("custos serve bounds its heap by default (issue 18)", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await seededDataDir("custos-heap-bound-");
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("without NODE_OPTIONS serves under 128 MB of old generation, and stops on SIGTERM as before", async () => {
    const serve = await startServeProcess({ CUSTOS_DATA_DIR: dataDir });
    try {
      expectBoundNear(await heapLimitMb(serve.url), 128);
    } finally {
      await serve.stop();
    }
    expect(await serve.ended).toEqual({ code: null, signal: "SIGTERM" });
    expect(serve.stderr()).toMatch(/custos stopped \(SIGTERM\) in \d+ ms/);
  });

  it("takes CUSTOS_MAX_HEAP_MB, and a SIGINT to the launcher reaches the server once: it closes and ends by SIGINT", async () => {
    const serve = await startServeProcess({ CUSTOS_DATA_DIR: dataDir, CUSTOS_MAX_HEAP_MB: "200" });
    try {
      expectBoundNear(await heapLimitMb(serve.url), 200);
    } finally {
      await serve.stop("SIGINT");
    }
    expect(await serve.ended).toEqual({ code: null, signal: "SIGINT" });
    expect(serve.stderr()).toMatch(/custos stopped \(SIGINT\) in \d+ ms/);
  });

  it("a Ctrl-C at a terminal (SIGINT to the whole process group) reaches the server once: it still closes cleanly", async () => {
    const serve = await startServeProcess({ CUSTOS_DATA_DIR: dataDir }, 60_000, true);
    process.kill(-(serve.child.pid ?? 0), "SIGINT");
    expect(await serve.ended).toEqual({ code: null, signal: "SIGINT" });
    expect(serve.stderr()).toMatch(/custos stopped \(SIGINT\) in \d+ ms/);
  });

  it("leaves the heap to an operator's own NODE_OPTIONS bound, which wins over CUSTOS_MAX_HEAP_MB", async () => {
    const serve = await startServeProcess({ CUSTOS_DATA_DIR: dataDir, NODE_OPTIONS: "--max-old-space-size=320", CUSTOS_MAX_HEAP_MB: "200" });
    try {
      expectBoundNear(await heapLimitMb(serve.url), 320);
      // Served by the process started, with no launcher in between.
      expect(await childPids(serve.child.pid ?? 0)).toEqual([]);
    } finally {
      await serve.stop();
    }
    expect(await serve.ended).toEqual({ code: null, signal: "SIGTERM" });
  });

  it("stops the server when its launcher is killed outright, rather than leave it serving as an orphan", async () => {
    const serve = await startServeProcess({ CUSTOS_DATA_DIR: dataDir });
    const [server] = await childPids(serve.child.pid ?? 0);
    expect(server).toBeDefined();
    await serve.stop("SIGKILL");
    expect(await waitUntilGone(server ?? 0, 15_000)).toBe(true);
  });

  it("passes on the server's exit status: an invalid setting read by the server exits 2", async () => {
    const result = await runCliProcess(["serve"], { CUSTOS_DATA_DIR: dataDir, CUSTOS_PORT: "not-a-port" });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("CUSTOS_PORT");
  });

  it("refuses an invalid CUSTOS_MAX_HEAP_MB with exit 2, naming the setting", async () => {
    const result = await runCliProcess(["serve"], { CUSTOS_DATA_DIR: dataDir, CUSTOS_MAX_HEAP_MB: "lots" });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('custos: invalid configuration: CUSTOS_MAX_HEAP_MB must be a whole number of megabytes from 64 to 65536 (got "lots")');
  });
});
