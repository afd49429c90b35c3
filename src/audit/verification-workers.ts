import { availableParallelism } from "node:os";
import { startModuleWorker } from "../platform/module-worker.ts";
import type { CheckpointMark, PageCheck } from "./audit-verifier.ts";
import { checkPageText } from "./page-text-check.ts";
import type { PageAnswer, PageRequest } from "./verification-worker.ts";

/**
 * Checks a chain's pages on worker threads while this thread reads the next ones: parsing,
 * canonicalising and hashing are most of verification's cost, and the pages are independent
 * (checkRows checks a page on its own; verifyCheckedPages links the pages, in order, here).
 */

export interface WorkerPageOptions {
  readonly chain: string;
  readonly checkpoint: CheckpointMark | undefined;
  /** How many worker threads; by default one fewer than the cores, at least one, at most four. */
  readonly workers?: number;
  /** The worker's module (verification-worker); tests name one that fails. */
  readonly module?: URL;
}

/** Pages handed to each worker ahead of the one awaited: enough to keep it busy, few enough to bound memory. */
const PAGES_AHEAD_PER_WORKER = 2;

/**
 * Verification worker threads alive at once in this process, over all walks: each costs a
 * V8 isolate, and auditors may ask for several verifications together. A walk that finds the
 * budget spent checks its pages on this thread instead: slower, the same checks.
 */
export const MAX_VERIFICATION_WORKERS = 4;
let liveWorkers = 0;

export function defaultWorkerCount(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 1));
}

const verificationWorker = new URL("./verification-worker", import.meta.url);

/** One worker thread and the pages it was given, answered in the order given. */
interface PageWorker {
  check(request: PageRequest): Promise<PageCheck>;
  stop(): Promise<void>;
}

function startPageWorker(module: URL): PageWorker {
  const worker = startModuleWorker(module);
  const pending = new Map<number, { resolve: (check: PageCheck) => void; reject: (error: Error) => void }>();
  let stopped: Error | undefined;
  // A worker that fails or exits fails every page it holds, and every page given to it later:
  // the walk then rejects, and nothing reports a chain verified that was not checked.
  const fail = (error: Error) => {
    stopped ??= error;
    for (const waiting of pending.values()) waiting.reject(stopped);
    pending.clear();
  };
  worker.on("message", (answer: PageAnswer) => {
    const waiting = pending.get(answer.id);
    pending.delete(answer.id);
    if ("check" in answer) waiting?.resolve(answer.check);
    else waiting?.reject(new Error(`a verification worker could not check a page (${answer.error})`));
  });
  worker.on("error", (error) => { fail(new Error("a verification worker failed", { cause: error })); });
  worker.on("exit", (code) => { fail(new Error(`a verification worker exited (code ${String(code)})`)); });
  return {
    check(request) {
      return new Promise((resolve, reject) => {
        if (stopped !== undefined) {
          reject(stopped);
          return;
        }
        pending.set(request.id, { resolve, reject });
        worker.postMessage(request);
      });
    },
    async stop() {
      await worker.terminate();
    },
  };
}

/**
 * The PageCheck of each page text, in order. The first page is checked on this thread, so a
 * chain of one page never starts a thread; from the second on, pages go round the workers
 * (as many as asked for and left in MAX_VERIFICATION_WORKERS; none left: on this thread),
 * a few ahead of the one awaited. The workers end when the walk stops, whatever stops it.
 */
export async function* checkPagesInWorkers(texts: AsyncIterable<string>, options: WorkerPageOptions): AsyncGenerator<PageCheck> {
  const workers: PageWorker[] = [];
  const ahead: Promise<PageCheck>[] = [];
  let granted = 0;
  let id = 0;
  try {
    for await (const text of texts) {
      if (id === 1) {
        granted = Math.max(0, Math.min(options.workers ?? defaultWorkerCount(), MAX_VERIFICATION_WORKERS - liveWorkers));
        liveWorkers += granted;
        for (let index = 0; index < granted; index += 1) workers.push(startPageWorker(options.module ?? verificationWorker));
      }
      if (workers.length === 0) {
        id += 1;
        yield checkPageText(options.chain, text, options.checkpoint);
        continue;
      }
      const worker = workers[id % workers.length] as PageWorker;
      const check = worker.check({ id, chain: options.chain, text, checkpoint: options.checkpoint });
      // Awaited in its turn; until then a failure must not count as unhandled.
      check.catch(() => undefined);
      ahead.push(check);
      id += 1;
      if (ahead.length >= workers.length * PAGES_AHEAD_PER_WORKER) yield await (ahead.shift() as Promise<PageCheck>);
    }
    for (let check = ahead.shift(); check !== undefined; check = ahead.shift()) yield await check;
  } finally {
    liveWorkers -= granted;
    await Promise.all(workers.map((worker) => worker.stop()));
  }
}
