import { HEAP_BOUND_CHILD_MARK } from "./heap-bound.ts";

/**
 * Resolves on the first SIGINT or SIGTERM, so a long-running command can close cleanly.
 *
 * A server the launcher started under a heap bound (heap-bound.ts) also stops, as on SIGTERM,
 * when the launcher is gone (its IPC channel closes): it runs in its own session, so nothing
 * else would stop it, and an orphan would keep the port.
 */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const watchesLauncher = process.env[HEAP_BOUND_CHILD_MARK] !== undefined && process.channel !== undefined;
    const stop = (signal: NodeJS.Signals) => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      process.off("disconnect", launcherGone);
      resolve(signal);
    };
    const launcherGone = () => { stop("SIGTERM"); };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    if (watchesLauncher) process.once("disconnect", launcherGone);
  });
}

/**
 * Ends the process the way the signal asked, once everything has been closed and flushed: the
 * handlers are gone, so the re-raised signal takes its default action (exit status 130 for
 * SIGINT, 143 for SIGTERM, as for any program stopped by a signal).
 *
 * Why not let the event loop drain, or call process.exit(): once `custos dev` has seeded its
 * demo, Node's own exit sequence (process.exit included) sleeps about six seconds in a thread
 * join after Custos has closed everything. Which thread was not pinned down; the suspects are
 * the embedded components' native code (the SpiceDB engine is a Go library loaded in process).
 * Without the seed it exits at once. The default action of the signal does not wait.
 */
export function endBySignal(signal: NodeJS.Signals): void {
  process.kill(process.pid, signal);
}
