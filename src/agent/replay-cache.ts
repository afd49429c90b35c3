import { readFile } from "node:fs/promises";
import { replaceFileAtomically } from "../platform/durable-files.ts";
import { AgentStartRefused } from "./agent-errors.ts";

/**
 * The jtis the agent has accepted, each kept until its envelope could no longer verify
 * (exp + leeway): a replayed envelope is refused for as long as it would otherwise pass, and
 * across restarts, since the cache is a file in the state directory written atomically after
 * every change. A cache that cannot be read as one is a refusal to start: an agent that
 * silently began with an empty cache would accept every envelope still in its lifetime again.
 */

const FORMAT = "custos-agent-replay-cache/1";

export interface ReplayCacheContent {
  readonly format: typeof FORMAT;
  /** jti → exp (epoch seconds). */
  readonly jtis: Readonly<Record<string, number>>;
}

export class ReplayCache {
  private readonly jtis: Map<string, number>;

  constructor(
    /** Undefined: kept in memory only (`custos node watch` without a state directory). */
    private readonly file: string | undefined,
    private readonly leewaySeconds: number,
    entries: Iterable<readonly [string, number]> = [],
  ) {
    this.jtis = new Map(entries);
  }

  has(jti: string): boolean {
    return this.jtis.has(jti);
  }

  get size(): number {
    return this.jtis.size;
  }

  /** Forgets the jtis whose envelopes can no longer verify: exp + leeway is past. */
  prune(now: number): void {
    for (const [jti, exp] of this.jtis) if (exp + this.leewaySeconds <= now) this.jtis.delete(jti);
  }

  /** Remembers `jti` until its exp + leeway, pruning the rest, and writes the file before it returns. */
  async remember(jti: string, exp: number, now: number): Promise<void> {
    this.prune(now);
    this.jtis.set(jti, exp);
    if (this.file !== undefined) await replaceFileAtomically(this.file, serializeReplayCache(this.jtis));
  }
}

export function serializeReplayCache(jtis: ReadonlyMap<string, number>): string {
  const content: ReplayCacheContent = { format: FORMAT, jtis: Object.fromEntries(jtis) };
  return `${JSON.stringify(content)}\n`;
}

/** The entries of a cache file's text; throws AgentStartRefused naming the file for anything but a well-formed cache. */
export function parseReplayCache(text: string, file: string): Map<string, number> {
  const corrupt = (why: string) => new AgentStartRefused("replay_cache_corrupt", `the replay cache ${file} ${why}: refusing to start (move it aside only if you accept that envelopes still within their lifetime could be applied again)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw corrupt("is not JSON");
  }
  if (typeof parsed !== "object" || parsed === null || (parsed as { format?: unknown }).format !== FORMAT) throw corrupt(`is not a ${FORMAT} file`);
  const jtis = (parsed as { jtis?: unknown }).jtis;
  if (typeof jtis !== "object" || jtis === null || Array.isArray(jtis)) throw corrupt("holds no jti map");
  const entries = new Map<string, number>();
  for (const [jti, exp] of Object.entries(jtis)) {
    if (typeof exp !== "number" || !Number.isSafeInteger(exp)) throw corrupt("holds an entry without a whole-second exp");
    entries.set(jti, exp);
  }
  return entries;
}

/** Opens the cache in `file` (absent: a first start, an empty cache). */
export async function openReplayCache(file: string, leewaySeconds: number, now: number): Promise<ReplayCache> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return new ReplayCache(file, leewaySeconds);
    throw new AgentStartRefused("replay_cache_corrupt", `cannot read the replay cache ${file}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
  const cache = new ReplayCache(file, leewaySeconds, parseReplayCache(text, file));
  cache.prune(now);
  return cache;
}
