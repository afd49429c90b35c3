import { spawn, type ChildProcess } from "node:child_process";
import { CUSTOS_BIN, REPO_ROOT } from "../../support/cli.ts";

/** One JSON log line of the agent. */
export interface AgentLogLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** `custos node agent --config <file>` as a child process of the compiled dist/, as systemd runs it. */
export interface AgentProcess {
  readonly child: ChildProcess;
  /** Every JSON line it logged so far. */
  logs(): readonly AgentLogLine[];
  /** Everything on stderr, verbatim (to check that no secret, NSK or bearer is in it). */
  stderr(): string;
  /** Resolves with the first log line (from index `from`) matching, or rejects when the agent exits first. */
  waitForLog(match: (line: AgentLogLine) => boolean, from?: number): Promise<AgentLogLine>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  exited(): Promise<number | null>;
}

export function startAgentProcess(args: readonly string[]): AgentProcess {
  const child = spawn(process.execPath, [CUSTOS_BIN, "node", "agent", ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NODE_ENV: "test" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  const lines: AgentLogLine[] = [];
  const listeners = new Set<() => void>();
  let partial = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
    partial += chunk.toString();
    const complete = partial.split("\n");
    partial = complete.pop() ?? "";
    for (const line of complete) {
      try {
        lines.push(JSON.parse(line) as AgentLogLine);
      } catch {
        lines.push({ level: "raw", msg: line });
      }
    }
    for (const listener of [...listeners]) listener();
  });
  const exit = new Promise<number | null>((resolve) => {
    child.on("close", (code) => {
      resolve(code);
      for (const listener of [...listeners]) listener();
    });
  });
  let exitedAlready = false;
  void exit.then(() => { exitedAlready = true; });
  return {
    child,
    logs: () => lines,
    stderr: () => stderr,
    exited: () => exit,
    waitForLog(match, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.slice(from).find(match);
          if (found !== undefined) {
            listeners.delete(check);
            resolve(found);
          } else if (exitedAlready || child.exitCode !== null) {
            listeners.delete(check);
            reject(new Error(`the agent exited before logging what was awaited:\n${stderr}`));
          }
        };
        listeners.add(check);
        check();
      });
    },
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
  };
}
