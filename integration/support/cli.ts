import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { format } from "node:util";
import { runCli as runCliHere } from "../../src/cli/run-cli.ts";

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
    const child = spawn(process.execPath, [CUSTOS_BIN, ...args], {
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

type Write = typeof process.stdout.write;

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
  const saved = {
    env: process.env,
    log: console.log, error: console.error, warn: console.warn, info: console.info,
    stdoutWrite: process.stdout.write, stderrWrite: process.stderr.write,
  };
  const writer = (sink: (text: string) => void): Write =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      sink(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
      const callback = rest.find((arg) => typeof arg === "function") as (() => void) | undefined;
      callback?.();
      return true;
    }) as Write;
  process.env = cleanEnv(env);
  console.log = (...parts: unknown[]) => { toStdout(`${format(...parts)}\n`); };
  console.info = console.log;
  console.error = (...parts: unknown[]) => { toStderr(`${format(...parts)}\n`); };
  console.warn = console.error;
  process.stdout.write = writer(toStdout);
  process.stderr.write = writer(toStderr);
  try {
    const code = await runCliHere(args, { writeOut: toStdout, writeErr: toStderr });
    return { code, stdout, stderr };
  } finally {
    process.env = saved.env;
    console.log = saved.log;
    console.error = saved.error;
    console.warn = saved.warn;
    console.info = saved.info;
    process.stdout.write = saved.stdoutWrite;
    process.stderr.write = saved.stderrWrite;
  }
}

/** The default: in-process. */
export const runCli = runCliInProcess;
