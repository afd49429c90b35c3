// A verification worker that dies on the first page it is given, for
// verification-workers.test.ts: the walk must reject, never report the chain verified.
import { parentPort } from "node:worker_threads";

parentPort?.once("message", () => {
  throw new Error("the verification worker died");
});
