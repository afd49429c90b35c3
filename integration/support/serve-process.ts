import { spawn, type ChildProcess } from "node:child_process";
import { CUSTOS_BIN, REPO_ROOT } from "./cli.ts";
import { TEST_NODE_FLAGS } from "./node-flags.ts";

/** `custos serve` as a child process, the way an operator runs a replica. */
export interface ServeProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  alive(): boolean;
  /** Sends `signal` (SIGTERM by default) and resolves with the exit code (null when ended by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** How the process ended: its exit code, or the signal that ended it. */
  readonly ended: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>;
}

/**
 * `ownProcessGroup` starts it as a shell starts a foreground job, in a process group of its own,
 * so that a test can signal the group as a terminal's Ctrl-C does.
 */
export async function startServeProcess(env: Readonly<Record<string, string>>, startTimeoutMs = 60_000, ownProcessGroup = false): Promise<ServeProcess> {
  const child = spawn(process.execPath, [...TEST_NODE_FLAGS, CUSTOS_BIN, "serve"], {
    cwd: REPO_ROOT,
    detached: ownProcessGroup,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NODE_ENV: "test", CUSTOS_LOG_LEVEL: "warn", CUSTOS_PORT: "0", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  let exited = false;
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("close", (code, signal) => {
      exited = true;
      resolve({ code, signal });
    });
  });
  const closed = ended.then(({ code }) => code);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`custos serve did not start: ${stderr}`));
    }, startTimeoutMs);
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /custos serving on (http:\/\/\S+)/.exec(stderr);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void closed.then((code) => {
      clearTimeout(timer);
      reject(new Error(`custos serve exited ${String(code)} before serving: ${stderr}`));
    });
  });
  return {
    url,
    child,
    stderr: () => stderr,
    alive: () => !exited,
    ended,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (!exited) child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const code = await closed;
      clearTimeout(timer);
      return code;
    },
  };
}
