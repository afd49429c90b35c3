import type { AuditAppender, AuditEventInput } from "./audit-port.ts";

export interface DenialRecorder {
  /**
   * Audits a denial. The first of a run of identical denials (same chain, actor, action,
   * resource and reason) is appended at once; repeats within the window are counted and
   * written as one summary record when the window closes, so a flood of refused requests
   * cannot amplify into a flood of audit writes.
   */
  record(event: AuditEventInput): Promise<void>;
  /** Writes every pending summary now (shutdown, tests). */
  flush(): Promise<void>;
}

interface Window {
  readonly first: AuditEventInput;
  repeats: number;
  readonly timer: NodeJS.Timeout;
}

export function createDenialRecorder(audit: AuditAppender, options: { windowMs?: number } = {}): DenialRecorder {
  const windowMs = options.windowMs ?? 10_000;
  const windows = new Map<string, Window>();

  async function close(key: string): Promise<void> {
    const window = windows.get(key);
    if (window === undefined) return;
    windows.delete(key);
    clearTimeout(window.timer);
    if (window.repeats === 0) return;
    await audit.append({
      ...window.first,
      reason: window.first.reason,
      details: { ...window.first.details, summarised_repeats: window.repeats, window_ms: windowMs },
    });
  }

  return {
    async record(event) {
      const key = JSON.stringify([event.chain, event.actor, event.action, event.resource, event.reason]);
      const open = windows.get(key);
      if (open !== undefined) {
        open.repeats += 1;
        return;
      }
      const timer = setTimeout(() => {
        // A failed summary is lost with its window: the first denial of the run was audited.
        close(key).catch(() => undefined);
      }, windowMs);
      timer.unref();
      windows.set(key, { first: event, repeats: 0, timer });
      try {
        await audit.append(event);
      } catch (error) {
        // Not recorded: the next identical denial must try again rather than be counted.
        windows.delete(key);
        clearTimeout(timer);
        throw error;
      }
    },

    async flush() {
      await Promise.all([...windows.keys()].map((key) => close(key)));
    },
  };
}
