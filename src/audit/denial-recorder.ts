import type { AuditAppender, AuditEventInput } from "./audit-port.ts";
import { auditActor, type AuditAction, type Resource } from "./audit-vocabulary.ts";

/**
 * A refusal of a request that carried no verified identity: a garbage id_token, no
 * credential, an unknown domain, a wrong operator token, a node bearer that does not match.
 * Its actor is `anonymous` and everything in it but the source address is whatever the
 * client chose to send, so it is summarised by what Custos itself decided (chain, action,
 * reason) and where the request came from, never by the client-chosen resource.
 */
export interface UnverifiedRefusal {
  readonly chain: string;
  readonly action: AuditAction;
  /** Client-chosen (a path, a domain or node id): kept for the first of a window, sampled after. */
  readonly resource: Resource;
  readonly reason: string;
  readonly requestId: string;
  /** The client address (Express's `req.ip`, which honours the `trust proxy` setting). */
  readonly source: string;
}

export interface DenialRecorder {
  /**
   * Audits a denial of a verified actor. The first of a run of identical denials (same chain,
   * actor, action, resource and reason) is appended at once; repeats within the window are
   * counted and written as one summary record when the window closes, so a flood of refused
   * requests cannot amplify into a flood of audit writes.
   */
  record(event: AuditEventInput): Promise<void>;
  /**
   * Audits a refusal that carries no verified identity, keyed by (chain, action, reason,
   * source): the first is appended at once (actor `anonymous`), later ones in the window are
   * counted into one summary. N garbage requests from one address write O(1) rows per window.
   */
  recordUnverified(refusal: UnverifiedRefusal): Promise<void>;
  /** Writes every pending summary now (shutdown, tests). */
  flush(): Promise<void>;
}

export interface DenialRecorderOptions {
  /** How long a run of identical denials is counted before its summary is written. */
  readonly windowMs?: number;
  /**
   * Bound on the windows held in memory, for verified and for unverified denials each (so an
   * anonymous flood cannot crowd out the verified actors' windows). Beyond it, an unverified
   * refusal from a new source joins its (chain, action, reason) overflow window, source `*`;
   * a verified actor's new denial is appended on its own, unsummarised (recorded, and holding
   * no memory).
   */
  readonly maxOpenWindows?: number;
}

/** The source of the overflow windows: every address beyond the bound on open windows. */
export const OVERFLOW_SOURCE = "*";
/** Distinct client-chosen resources a summary of unverified refusals lists, beyond the first. */
export const RESOURCE_SAMPLE_SIZE = 8;

export const DEFAULT_WINDOW_MS = 10_000;
export const DEFAULT_MAX_OPEN_WINDOWS = 10_000;

/** The address a refusal is summarised by; `unknown` when the socket has gone. */
export function sourceAddressOf(req: { readonly ip?: string | undefined }): string {
  return req.ip ?? "unknown";
}

interface Window {
  readonly first: AuditEventInput;
  /** Denials in the window, the first (already appended on its own) included. */
  count: number;
  /** Distinct resources after the first; only for unverified refusals, whose resource is client-chosen. */
  readonly sampledResources: Set<string> | undefined;
  readonly timer: NodeJS.Timeout;
}

function verifiedKey(event: AuditEventInput): string {
  return JSON.stringify(["verified", event.chain, event.actor, event.action, event.resource, event.reason]);
}

function unverifiedKey(refusal: UnverifiedRefusal, source: string): string {
  return JSON.stringify(["unverified", refusal.chain, refusal.action, refusal.reason, source]);
}

function unverifiedEvent(refusal: UnverifiedRefusal, source: string): AuditEventInput {
  return {
    chain: refusal.chain,
    actor: auditActor.anonymous,
    action: refusal.action,
    resource: refusal.resource,
    decision: "denied",
    reason: refusal.reason,
    requestId: refusal.requestId,
    details: { source },
  };
}

/** The record a closing window writes: the first denial's fields, with the count. */
export function summaryOf(first: AuditEventInput, count: number, sampledResources: ReadonlySet<string> | undefined, windowMs: number): AuditEventInput {
  const sample = sampledResources === undefined || sampledResources.size === 0 ? {} : { sampled_resources: [...sampledResources] };
  return {
    ...first,
    details: { ...first.details, count, summarised_repeats: count - 1, window_ms: windowMs, ...sample },
  };
}

export function createDenialRecorder(audit: AuditAppender, options: DenialRecorderOptions = {}): DenialRecorder {
  const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
  const maxOpenWindows = options.maxOpenWindows ?? DEFAULT_MAX_OPEN_WINDOWS;
  // Keys never collide across the two maps: each key names its kind. One map per kind so that
  // each is bounded on its own.
  const verified = new Map<string, Window>();
  const unverified = new Map<string, Window>();

  async function close(windows: Map<string, Window>, key: string): Promise<void> {
    const window = windows.get(key);
    if (window === undefined) return;
    windows.delete(key);
    clearTimeout(window.timer);
    if (window.count === 1) return;
    await audit.append(summaryOf(window.first, window.count, window.sampledResources, windowMs));
  }

  /** Appends the first denial of a new window; the window counts the ones that follow. */
  async function open(windows: Map<string, Window>, key: string, event: AuditEventInput, sampledResources: Set<string> | undefined): Promise<void> {
    const timer = setTimeout(() => {
      // A failed summary is lost with its window: the first denial of the run was audited.
      close(windows, key).catch(() => undefined);
    }, windowMs);
    timer.unref();
    windows.set(key, { first: event, count: 1, sampledResources, timer });
    try {
      await audit.append(event);
    } catch (error) {
      // Not recorded: the next identical denial must try again rather than be counted.
      windows.delete(key);
      clearTimeout(timer);
      throw error;
    }
  }

  return {
    async record(event) {
      const key = verifiedKey(event);
      const current = verified.get(key);
      if (current !== undefined) {
        current.count += 1;
        return;
      }
      if (verified.size >= maxOpenWindows) {
        await audit.append(event);
        return;
      }
      await open(verified, key, event, undefined);
    },

    async recordUnverified(refusal) {
      let source = refusal.source;
      let key = unverifiedKey(refusal, source);
      if (!unverified.has(key) && unverified.size >= maxOpenWindows) {
        source = OVERFLOW_SOURCE;
        key = unverifiedKey(refusal, source);
      }
      const current = unverified.get(key);
      if (current === undefined) {
        await open(unverified, key, unverifiedEvent(refusal, source), new Set());
        return;
      }
      current.count += 1;
      const sample = current.sampledResources;
      if (sample !== undefined && sample.size < RESOURCE_SAMPLE_SIZE && refusal.resource !== current.first.resource) sample.add(refusal.resource);
    },

    async flush() {
      await Promise.all([verified, unverified].flatMap((windows) => [...windows.keys()].map((key) => close(windows, key))));
    },
  };
}
