/** Something /readyz asks before saying the instance can serve: the store, SpiceDB, the backend. */
export interface ReadinessProbe {
  readonly name: string;
  /** Resolves when the dependency can serve; rejects (or times out) otherwise. */
  check(): Promise<void>;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, "ok" | "unavailable">>;
}

export async function checkReadiness(probes: readonly ReadinessProbe[], timeoutMs: number): Promise<ReadinessReport> {
  const results = await Promise.all(
    probes.map(async (probe) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => { reject(new Error("timed out")); }, timeoutMs);
      });
      const checking = probe.check();
      // A probe that fails after the timeout answered must not become an unhandled rejection.
      checking.catch(() => undefined);
      try {
        await Promise.race([checking, timeout]);
        return [probe.name, "ok"] as const;
      } catch {
        return [probe.name, "unavailable"] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: results.every(([, state]) => state === "ok"), checks: Object.fromEntries(results) };
}
