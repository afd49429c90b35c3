/** Resolves on the first SIGINT or SIGTERM, so a long-running command can close cleanly. */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve(signal);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

/**
 * Ends the process the way the signal asked, once everything has been closed and flushed: the
 * handlers are gone, so the re-raised signal takes its default action (exit status 130 for
 * SIGINT, 143 for SIGTERM, as for any program stopped by a signal).
 *
 * Why not let the event loop drain, or call process.exit(): after the embedded SpiceDB engine
 * (a Go library loaded in process) has written relationships, Node's own exit sequence waits
 * about six seconds on a thread of it, after Custos has nothing left to do. The default action
 * of the signal does not wait.
 */
export function endBySignal(signal: NodeJS.Signals): void {
  process.kill(process.pid, signal);
}
