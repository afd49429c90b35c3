import type { PurgeCounts, SessionRepository } from "./session-repo.ts";

export interface SignInPurgeOptions {
  readonly sessions: Pick<SessionRepository, "purgeExpired">;
  /** Epoch seconds. */
  readonly now: () => number;
  readonly intervalMs: number;
  /** A purge that failed; the next tick tries again. */
  readonly onError: (error: unknown) => void;
  readonly onPurged?: (counts: PurgeCounts) => void;
}

export interface SignInPurge {
  /** Stops the timer and waits for a purge in progress, so the database can close after it. */
  stop(): Promise<void>;
}

/** Five minutes: expired rows are unusable anyway; the purge only keeps the tables small. */
export const SIGN_IN_PURGE_INTERVAL_MS = 5 * 60_000;

/**
 * Deletes expired login attempts and expired or ended sessions every `intervalMs`. Logins purge
 * a batch as they insert, but a quiet instance would otherwise keep its last burst forever.
 * The timer is unref'd (it never keeps the process alive) and never overlaps itself.
 */
export function startSignInPurge(options: SignInPurgeOptions): SignInPurge {
  let running: Promise<void> | undefined;
  const tick = (): void => {
    if (running !== undefined) return;
    running = options.sessions
      .purgeExpired(options.now())
      .then((counts) => { options.onPurged?.(counts); }, options.onError)
      .finally(() => { running = undefined; });
  };
  const timer = setInterval(tick, options.intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
