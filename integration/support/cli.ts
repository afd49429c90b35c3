import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { format } from "node:util";
import { runCli as runCliHere } from "../../src/cli/run-cli.ts";
import { TEST_NODE_FLAGS } from "./node-flags.ts";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const CUSTOS_BIN = path.join(REPO_ROOT, "bin", "custos.mjs");

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment a command sees: nothing of the test runner's but PATH and HOME. */
function cleanEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  return { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NODE_ENV: "test", CUSTOS_LOG_LEVEL: "warn", ...env };
}

/**
 * Runs `custos <args>` as a child process of the compiled dist/ with a clean, explicit
 * environment. For what needs a real process: signals, exit without hanging, module loading,
 * locks across processes, and one smoke test per command family. Everything else runs
 * in-process with runCliInProcess (a spawn costs about a second of start-up on this machine).
 */
export function runCliProcess(args: readonly string[], env: Readonly<Record<string, string>> = {}, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...TEST_NODE_FLAGS, CUSTOS_BIN, ...args], {
      cwd: REPO_ROOT,
      env: cleanEnv(env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`custos ${args.join(" ")} timed out`)); }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** Points a stream's write at `sink` until the returned function puts the original back. */
function borrowWrite(stream: NodeJS.WriteStream, sink: (text: string) => void): () => void {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- kept only to be put back on the same stream
  const original = stream.write;
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    sink(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    const callback = rest.find((arg) => typeof arg === "function") as (() => void) | undefined;
    callback?.();
    return true;
  });
  return () => { stream.write = original; };
}

/** One in-process run at a time: a run borrows process.env, the console and the standard streams. */
let queue: Promise<unknown> = Promise.resolve();

/**
 * Runs `custos <args>` in this process (src/cli/run-cli.ts, from source) with the same clean
 * environment as a child would get, capturing what it prints and its exit status. The
 * commands print through console and process.stdout/stderr, so those are borrowed for the
 * run and given back, as are process.env and process.exitCode (runCli restores the latter).
 * Log lines (pino writes to file descriptor 2 directly) are not captured.
 */
export function runCliInProcess(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<CliResult> {
  const run = queue.then(() => runCaptured(args, env));
  queue = run.catch(() => undefined);
  return run;
}

async function runCaptured(args: readonly string[], env: Readonly<Record<string, string>>): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const toStdout = (text: string) => { stdout += text; };
  const toStderr = (text: string) => { stderr += text; };
  const savedEnv = process.env;
  const savedConsole = { log: console.log, error: console.error, warn: console.warn, info: console.info };
  process.env = cleanEnv(env);
  console.log = (...parts: unknown[]) => { toStdout(`${format(...parts)}\n`); };
  console.info = console.log;
  console.error = (...parts: unknown[]) => { toStderr(`${format(...parts)}\n`); };
  console.warn = console.error;
  const restoreStdout = borrowWrite(process.stdout, toStdout);
  const restoreStderr = borrowWrite(process.stderr, toStderr);
  try {
    const code = await runCliHere(args, { writeOut: toStdout, writeErr: toStderr });
    return { code, stdout, stderr };
  } finally {
    process.env = savedEnv;
    Object.assign(console, savedConsole);
    restoreStdout();
    restoreStderr();
  }
}

/** The default: in-process. */
export const runCli = runCliInProcess;
