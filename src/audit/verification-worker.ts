import { parentPort } from "node:worker_threads";
import type { CheckpointMark, PageCheck } from "./audit-verifier.ts";
import { checkPageText } from "./page-text-check.ts";

/**
 * A verification worker (verification-workers.ts): checks one page's text as the database
 * sent it with checkPageText, the function the main thread runs for the first page (and
 * whose outcome is checkRows's over the parsed rows).
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
    answer = { id: request.id, check: checkPageText(request.chain, request.text, request.checkpoint) };
  } catch (error) {
    // Only the kind of failure crosses back: a message could quote a row's content.
    answer = { id: request.id, error: error instanceof Error ? error.name : "unknown error" };
  }
  port.postMessage(answer);
});
