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
  stop(): Promise<number | null>;
}

export async function startServeProcess(env: Readonly<Record<string, string>>, startTimeoutMs = 60_000): Promise<ServeProcess> {
  const child = spawn(process.execPath, [...TEST_NODE_FLAGS, CUSTOS_BIN, "serve"], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NODE_ENV: "test", CUSTOS_LOG_LEVEL: "warn", CUSTOS_PORT: "0", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  let exited = false;
  const closed = new Promise<number | null>((resolve) => {
    child.on("close", (code) => {
      exited = true;
      resolve(code);
    });
  });
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
    async stop() {
      if (!exited) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const code = await closed;
      clearTimeout(timer);
      return code;
    },
  };
}
