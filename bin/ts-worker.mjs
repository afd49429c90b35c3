// Worker-thread entry for a module of Custos's TypeScript sources (workerData.source, a file
// URL), when Custos runs from them: a worker does not inherit the main thread's tsx loader,
// so it registers its own. Built, the workers start from dist/ directly.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.source);
