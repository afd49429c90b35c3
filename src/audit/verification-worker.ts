import { parentPort } from "node:worker_threads";
import { parsePage } from "./audit-store.ts";
import { checkRows, type CheckpointMark, type PageCheck } from "./audit-verifier.ts";

/**
 * A verification worker (verification-workers.ts): parses one page's text as the database
 * sent it, and checks its rows with checkRows, the function the main thread would run.
 */
export interface PageRequest {
  readonly id: number;
  readonly chain: string;
  readonly text: string;
  readonly checkpoint: CheckpointMark | undefined;
}

export type PageAnswer =
  | { readonly id: number; readonly check: PageCheck }
  | { readonly id: number; readonly error: string };

const port = parentPort;
if (port === null) throw new Error("verification-worker.ts runs on a worker thread");

port.on("message", (request: PageRequest) => {
  let answer: PageAnswer;
  try {
    answer = { id: request.id, check: checkRows(request.chain, parsePage(request.text), request.checkpoint) };
  } catch (error) {
    // Only the kind of failure crosses back: a message could quote a row's content.
    answer = { id: request.id, error: error instanceof Error ? error.name : "unknown error" };
  }
  port.postMessage(answer);
});
