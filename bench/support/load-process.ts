/**
 * Runs the load generator (bench/support/load.ts: autocannon) in a process of its own and
 * gives back what it measured. Used by `npm run bench -- secret-read` and by the two-replicas
 * drill, so that the load costs the measured processes no CPU of their own: an in-process
 * client (fetch) costs about as much CPU a request as the server it loads.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface LoadResult {
  /** Requests a second, from the first request to the last response. */
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  /** 2xx answers. */
  readonly ok: number;
  readonly notOk: number;
  readonly errors: number;
  /** Epoch ms of the first request and of the last response. */
  readonly startedAt: number;
  readonly endedAt: number;
}

/**
 * `amount` requests over `connections` connections to `target`. Headers (a bearer) reach the
 * load generator in its environment, never on its command line, where any process could read them.
 */
export function loadInOwnProcess(target: string, amount: number, connections: number, headers: Readonly<Record<string, string>> = {}): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/support/load.ts", target, String(amount), String(connections)], {
      cwd: ROOT,
      env: { ...process.env, LOAD_HEADERS: JSON.stringify(headers) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => { out += chunk.toString(); });
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) {
        reject(new Error(`the load generator exited ${String(code)}`));
        return;
      }
      resolve(JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as LoadResult);
    });
  });
}
