import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../support/cli.ts";

/**
 * Replicas started together on a fresh shared data directory all create-or-load the same key
 * files: the local backend's key and the audit signing key. Each process must come up with
 * the one key that won, never fail on a file another process has created but not yet written.
 * (The audit key was once created with an exclusive create and then written: a process that
 * read it in between found it empty and refused to start.)
 *
 * Each round starts several processes, lets each load the code and open the backend, then
 * releases them at once; they run the compiled dist/ (the integration setup builds it).
 * A race shows up in some rounds only, so there are many (before the fix, 40 rounds of 8 found
 * it: three processes of one round refused to start); bounded: a fixed count.
 */
const ROUNDS = 40;
const PROCESSES = 8;

const CHILD = `
const [{ openLocalBackend }, { loadOrCreateAuditKeyFile }] = await Promise.all([
  import(${JSON.stringify(pathToFileURL(path.join(REPO_ROOT, "dist/secrets/backends/local-backend.js")).href)}),
  import(${JSON.stringify(pathToFileURL(path.join(REPO_ROOT, "dist/audit/audit-signer.js")).href)}),
]);
const dataDir = process.env.DATA_DIR;
process.stdout.write("ready\\n");
process.stdin.once("data", async () => {
  try {
    const backend = await openLocalBackend({ dataDir, nodeEnv: "test" });
    const signer = await loadOrCreateAuditKeyFile(dataDir + "/audit-signing-key.pem", backend);
    process.stdout.write("key " + signer.keyId + "\\n");
  } catch (error) {
    process.stdout.write("FAIL " + error.message + "\\n");
  }
  process.exit(0);
});
`;

interface Racer {
  readonly ready: Promise<void>;
  readonly result: Promise<string>;
  go(): void;
}

function startRacer(dataDir: string): Racer {
  const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD], {
    env: { PATH: process.env.PATH ?? "", DATA_DIR: dataDir, NODE_ENV: "test" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let signalReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => { signalReady = resolve; });
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.includes("ready\n")) signalReady();
  });
  child.stderr.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
  const result = new Promise<string>((resolve) => {
    child.once("close", (code) => {
      signalReady();
      const line = stdout.split("\n").find((each) => each.startsWith("key ") || each.startsWith("FAIL "));
      resolve(line ?? `exited ${String(code)} without an answer: ${stderr}`);
    });
  });
  return { ready, result, go: () => { child.stdin.end("go\n"); } };
}

describe("replicas creating the shared key files at the same moment", () => {
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), "custos-key-race-"));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it("all come up with one audit key, in every round", { timeout: 300_000 }, async () => {
    const failures: string[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const dataDir = path.join(scratch, `round-${String(round)}`);
      const racers = Array.from({ length: PROCESSES }, () => startRacer(dataDir));
      await Promise.all(racers.map((racer) => racer.ready));
      for (const racer of racers) racer.go();
      const results = await Promise.all(racers.map((racer) => racer.result));
      const keys = new Set(results.filter((line) => line.startsWith("key ")));
      failures.push(...results.filter((line) => !line.startsWith("key ")).map((line) => `round ${String(round)}: ${line}`));
      if (keys.size > 1) failures.push(`round ${String(round)}: ${String(keys.size)} different audit keys`);
    }
    expect(failures).toEqual([]);
  });
});
