import { v1 } from "@authzed/authzed-node";
import type { ZedToken } from "./authorizer.ts";

/**
 * Read-after-write consistency for checks (the "new enemy" problem): SpiceDB answers from a
 * cached revision unless told otherwise, so a reader revoked a moment ago could still be
 * allowed. Every write's ZedToken is kept here, and checks ask for `atLeastAsFresh` that
 * token, so the very next check after a revoke sees it.
 *
 * One global token suffices because SpiceDbAuthorizer serialises its writes: each write is
 * sent only after the previous one settled, so the last token recorded is always the newest
 * revision this process wrote. When a write's outcome is unknown (timed out, transport
 * failure) the write may still land later, so checks fall back to `fullyConsistent` until a
 * write succeeds again.
 *
 * Scope: writes made through this process. A replica that did not make the write sees it
 * within SpiceDB's quantization window, unless the caller passes the token along itself
 * (Consistency `at_least_as_fresh`).
 */
export class RevisionTracker {
  private latest: ZedToken | undefined;
  private uncertain = false;

  recordWrite(token: ZedToken): void {
    this.latest = token;
    this.uncertain = false;
  }

  recordUnknownOutcome(): void {
    this.uncertain = true;
  }

  get latestToken(): ZedToken | undefined {
    return this.latest;
  }

  /** The requirement a `latest_write` read runs under. */
  requirement(): v1.Consistency {
    if (this.uncertain || this.latest === undefined) return fullyConsistent();
    return atLeastAsFresh(this.latest);
  }
}

export function fullyConsistent(): v1.Consistency {
  return v1.Consistency.create({ requirement: { oneofKind: "fullyConsistent", fullyConsistent: true } });
}

export function atLeastAsFresh(token: ZedToken): v1.Consistency {
  return v1.Consistency.create({
    requirement: { oneofKind: "atLeastAsFresh", atLeastAsFresh: v1.ZedToken.create({ token }) },
  });
}
