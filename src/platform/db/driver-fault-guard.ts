import type { Logger } from "../logging.ts";
import { errorCodeOf, isStoreUnavailable } from "./store-errors.ts";

/**
 * postgres.js (the project's driver) can surface a lost connection outside any promise the
 * caller holds: a rejection nobody awaits (CONNECTION_CLOSED after pg_terminate_backend or a
 * server restart), or a TypeError thrown from its write timer once the socket is gone
 * (`socket.write` on null, fixed upstream but not released). Node ends the process on
 * either, taking every in-flight request and the other tenants with it.
 *
 * This guard keeps the process alive for exactly those driver faults — the request that
 * used the connection still fails on its own (store_unavailable, audit_unavailable), and the
 * pool reconnects on the next query — and leaves every other uncaught error fatal, because
 * an unknown failure in a control plane is safer stopped than guessed at.
 */

/** Where the driver's own frames live, whatever the install layout. */
const DRIVER_FRAME = /[/\\]node_modules[/\\]postgres[/\\]/;

/** True for a connection loss reported by the driver, and for the driver's write-after-close TypeError. */
export function isDriverConnectionFault(error: unknown): boolean {
  if (isStoreUnavailable(error)) return true;
  if (!(error instanceof TypeError)) return false;
  // Only the top frame counts: a TypeError in Custos code that merely called the driver is a bug.
  const firstFrame = (error.stack ?? "").split("\n").find((line) => line.trimStart().startsWith("at "));
  return firstFrame !== undefined && DRIVER_FRAME.test(firstFrame);
}

export interface DriverFaultGuard {
  /** How many driver faults were absorbed (tests, metrics). */
  readonly absorbed: () => number;
  uninstall(): void;
}

export function installDriverFaultGuard(logger: Logger, onFatal: (error: unknown) => void = () => process.exit(1)): DriverFaultGuard {
  let absorbed = 0;
  const handle = (kind: "uncaught_exception" | "unhandled_rejection") => (error: unknown) => {
    if (isDriverConnectionFault(error)) {
      absorbed += 1;
      logger.warn({ kind, code: errorCodeOf(error) ?? "TypeError" }, "database connection lost; the pool reconnects on the next query");
      return;
    }
    logger.fatal({ kind, err: error }, "uncaught error: stopping");
    onFatal(error);
  };
  const onException = handle("uncaught_exception");
  const onRejection = handle("unhandled_rejection");
  process.on("uncaughtException", onException);
  process.on("unhandledRejection", onRejection);
  return {
    absorbed: () => absorbed,
    uninstall() {
      process.off("uncaughtException", onException);
      process.off("unhandledRejection", onRejection);
    },
  };
}
