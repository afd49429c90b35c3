import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";

/**
 * `custos serve` runs with a bounded V8 heap unless the operator chose a bound (issue 18).
 *
 * Why: without a bound V8 sizes its heap against the machine's memory and lets old-generation
 * garbage pile up under load (a replica passed 350 MB of RSS in 100,000 reads, with about
 * 30 MB live); with `--max-old-space-size=128` it stayed under 300 MB. Node reads that flag
 * only when it starts (v8.setFlagsFromString does not move the limit afterwards), so the
 * launcher, bin/custos.mjs, starts the server as a child Node process that carries it, and
 * stands in for that child: signals go to it, its way of ending is the launcher's.
 *
 * Only `serve`: the other commands are short-lived, and some (`audit verify` of a long chain)
 * may need more heap than a serving replica does.
 */

/** The bound when the operator gives none (CUSTOS_MAX_HEAP_MB): about three times the live heap measured. */
export const DEFAULT_MAX_HEAP_MB = 128;
export const MIN_MAX_HEAP_MB = 64;
export const MAX_MAX_HEAP_MB = 65_536;

/** Set in the child's environment: the launcher already chose; never start another one. */
export const HEAP_BOUND_CHILD_MARK = "CUSTOS_HEAP_BOUND_APPLIED";

/**
 * The V8 flags that bound the old generation, as Node accepts them (`-` or `_` between words,
 * `=value` or the value as the next argument).
 */
const HEAP_BOUND_FLAG = /^--max[-_](?:old[-_]space|heap)[-_]size(?:=|$)/;

/** True when any of these Node options bounds the heap (`--max-old-space-size`, `--max-heap-size`). */
export function bindsHeap(options: readonly string[]): boolean {
  return options.some((option) => HEAP_BOUND_FLAG.test(option));
}

/** NODE_OPTIONS split as Node splits it for flags: on whitespace (quoted values never hold a heap flag). */
export function nodeOptionsList(nodeOptions: string | undefined): string[] {
  return (nodeOptions ?? "").split(/\s+/).filter((option) => option !== "");
}

/** The problem with a CUSTOS_MAX_HEAP_MB value, or undefined when it is fine. */
function maxHeapProblem(raw: string): string | undefined {
  const range = `must be a whole number of megabytes from ${String(MIN_MAX_HEAP_MB)} to ${String(MAX_MAX_HEAP_MB)}`;
  if (!/^\d{1,6}$/.test(raw)) return `${range} (got ${JSON.stringify(raw)})`;
  const value = Number(raw);
  return value < MIN_MAX_HEAP_MB || value > MAX_MAX_HEAP_MB ? `${range} (got ${raw})` : undefined;
}

/** Thrown for an invalid CUSTOS_MAX_HEAP_MB; named like config.ts's, so the launcher exits 2. */
export class HeapBoundConfigError extends Error {
  constructor(problem: string) {
    super(`invalid configuration: CUSTOS_MAX_HEAP_MB ${problem}`);
    this.name = "ConfigError";
  }
}

/** CUSTOS_MAX_HEAP_MB, or the default; throws naming the setting on anything else. */
export function maxHeapMb(env: Readonly<Record<string, string | undefined>>): number {
  const raw = env.CUSTOS_MAX_HEAP_MB;
  if (raw === undefined || raw === "") return DEFAULT_MAX_HEAP_MB;
  const problem = maxHeapProblem(raw);
  if (problem !== undefined) throw new HeapBoundConfigError(problem);
  return Number(raw);
}

export interface LaunchContext {
  /** The arguments after the script: `serve`, … */
  readonly args: readonly string[];
  /** This process's Node options (process.execArgv). */
  readonly execArgv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * The heap bound, in MB, that the launcher must start `custos serve` under, or undefined when
 * this process should run the command itself: another command, a bound the operator set
 * (NODE_OPTIONS or node's own flags win over CUSTOS_MAX_HEAP_MB), or already the child.
 * CUSTOS_MAX_HEAP_MB is checked for serve even when it will not be used, so a typo is not
 * silently ignored.
 */
export function heapBoundToApply(context: LaunchContext): number | undefined {
  if (context.args[0] !== "serve") return undefined;
  const bound = maxHeapMb(context.env);
  if (context.env[HEAP_BOUND_CHILD_MARK] !== undefined) return undefined;
  if (bindsHeap(context.execArgv) || bindsHeap(nodeOptionsList(context.env.NODE_OPTIONS))) return undefined;
  return bound;
}

/** How the child Node process is started: this process's flags, the bound, the same script and arguments. */
export function childCommand(script: string, context: LaunchContext, boundMb: number): string[] {
  return [...context.execArgv, `--max-old-space-size=${String(boundMb)}`, script, ...context.args];
}

/**
 * Signals the launcher passes on. The child runs in its own session (see runBounded), so a
 * terminal's Ctrl-C or a signal to the launcher's process group reaches it once, through here.
 * SIGUSR1 is left out: Node reserves it for the inspector.
 */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR2"];

/**
 * Ends this process the way the child ended: by the same signal (its default action, once
 * the forwarding handlers are gone; exit status 128 + the signal's number as a fallback if the
 * signal is ignored here) or with the same exit code.
 */
function endLikeChild(code: number | null, signal: NodeJS.Signals | null, forward: (signal: NodeJS.Signals) => void): void {
  for (const name of FORWARDED_SIGNALS) process.off(name, forward);
  if (signal !== null) {
    process.kill(process.pid, signal);
    process.exit(128 + constants.signals[signal]);
  }
  process.exit(code ?? 1);
}

/**
 * Starts `custos serve` as a child Node process under the heap bound and stands in for it
 * until it ends; never returns. The child:
 *
 * * gets the standard streams and the environment (with HEAP_BOUND_CHILD_MARK), and an IPC
 *   channel whose loss tells it the launcher is gone (serve then stops as on SIGTERM, rather
 *   than live on as an orphan holding the port);
 * * runs in its own session (`detached`), so that a terminal's SIGINT, which goes to the whole
 *   foreground process group, is not delivered twice (once by the terminal, once forwarded):
 *   a second SIGINT while serve closes would end it at once.
 */
export function runBounded(script: string, context: LaunchContext, boundMb: number): Promise<never> {
  const child: ChildProcess = spawn(process.execPath, childCommand(script, context, boundMb), {
    stdio: ["inherit", "inherit", "inherit", "ipc"],
    env: { ...context.env, [HEAP_BOUND_CHILD_MARK]: String(boundMb) },
    detached: true,
  });
  const forward = (signal: NodeJS.Signals): void => { child.kill(signal); };
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  return new Promise<never>(() => {
    child.once("error", (error) => {
      process.stderr.write(`custos: could not start the server process: ${error.message}\n`);
      endLikeChild(1, null, forward);
    });
    child.once("exit", (code, signal) => { endLikeChild(code, signal, forward); });
  });
}
