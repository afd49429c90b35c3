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
 * Several processes are started once and load the code; each round then releases them at once
 * on a fresh data directory (one line on stdin each), so every round is a race between warm
 * processes and no round pays for starting Node. They run the compiled dist/ (the integration
 * setup builds it). A race shows up in some rounds only, so there are many (before the fix,
 * 40 rounds of 8 found it: three processes of one round refused to start); bounded: a fixed count.
 */
const ROUNDS = 40;
const PROCESSES = 8;

const CHILD = `
const [{ openLocalBackend }, { loadOrCreateAuditKeyFile }] = await Promise.all([
  import(${JSON.stringify(pathToFileURL(path.join(REPO_ROOT, "dist/secrets/backends/local-backend.js")).href)}),
  import(${JSON.stringify(pathToFileURL(path.join(REPO_ROOT, "dist/audit/audit-signer.js")).href)}),
]);
process.stdout.write("ready\\n");
let pending = "";
process.stdin.on("data", async (chunk) => {
  pending += chunk.toString();
  let newline;
  while ((newline = pending.indexOf("\\n")) >= 0) {
    const dataDir = pending.slice(0, newline);
    pending = pending.slice(newline + 1);
    if (dataDir === "") { process.exit(0); }
    try {
      const backend = await openLocalBackend({ dataDir, nodeEnv: "test" });
      const signer = await loadOrCreateAuditKeyFile(dataDir + "/audit-signing-key.pem", backend);
      process.stdout.write("key " + signer.keyId + "\\n");
    } catch (error) {
      process.stdout.write("FAIL " + error.message + "\\n");
    }
  }
});
`;

/** A warm process that answers one line (`key <kid>` or `FAIL <why>`) per data directory it is sent. */
interface Racer {
  readonly ready: Promise<void>;
  /** Sends the data directory of the next round; resolves with that round's answer. */
  race(dataDir: string): Promise<string>;
  stop(): void;
}

function startRacer(): Racer {
  const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD], {
    env: { PATH: process.env.PATH ?? "", NODE_ENV: "test" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let answered = 0;
  let waiting: ((line: string) => void) | undefined;
  let signalReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => { signalReady = resolve; });
  const answers = () => stdout.split("\n").filter((line) => line.startsWith("key ") || line.startsWith("FAIL "));
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.includes("ready\n")) signalReady();
    const line = answers()[answered];
    if (line !== undefined && waiting !== undefined) {
      answered += 1;
      const deliver = waiting;
      waiting = undefined;
      deliver(line);
    }
  });
  child.stderr.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
  child.once("close", (code) => {
    signalReady();
    waiting?.(`exited ${String(code)} without an answer: ${stderr}`);
  });
  return {
    ready,
    race: (dataDir) =>
      new Promise<string>((resolve) => {
        waiting = resolve;
        child.stdin.write(`${dataDir}\n`);
      }),
    stop: () => { child.stdin.end("\n"); },
  };
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
    const racers = Array.from({ length: PROCESSES }, () => startRacer());
    try {
      await Promise.all(racers.map((racer) => racer.ready));
      const failures: string[] = [];
      for (let round = 0; round < ROUNDS; round += 1) {
        const dataDir = path.join(scratch, `round-${String(round)}`);
        const results = await Promise.all(racers.map((racer) => racer.race(dataDir)));
        const keys = new Set(results.filter((line) => line.startsWith("key ")));
        failures.push(...results.filter((line) => !line.startsWith("key ")).map((line) => `round ${String(round)}: ${line}`));
        if (keys.size > 1) failures.push(`round ${String(round)}: ${String(keys.size)} different audit keys`);
      }
      expect(failures).toEqual([]);
    } finally {
      for (const racer of racers) racer.stop();
    }
  });
});
