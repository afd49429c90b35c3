import { Worker } from "node:worker_threads";

/**
 * A worker thread running one of Custos's own modules, given as its path next to the caller
 * without extension (`new URL("./embedded-worker", import.meta.url)`). Built, the worker starts
 * from the `.js` in dist/ directly. From the TypeScript sources (tsx: the tests, the benches)
 * it starts through bin/ts-worker.mjs, because a worker does not inherit the main thread's
 * loader.
 */
export function startModuleWorker(modulePathWithoutExtension: URL): Worker {
  const fromSources = import.meta.url.endsWith(".ts");
  const module = new URL(`${modulePathWithoutExtension.href}${fromSources ? ".ts" : ".js"}`);
  if (!fromSources) return new Worker(module);
  return new Worker(new URL("../../bin/ts-worker.mjs", import.meta.url), { workerData: { source: module.href } });
}
