import { Writable } from "node:stream";
import { createLogger, type Logger } from "../../src/platform/logging.ts";

export interface CapturedLogger {
  readonly logger: Logger;
  /** Every JSON line written so far, for tests that scan logs for leaked secrets. */
  lines(): string[];
}

export function captureLogger(): CapturedLogger {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString().split("\n").filter((line) => line !== ""));
      callback();
    },
  });
  return { logger: createLogger({ level: "debug", destination }), lines: () => [...lines] };
}
