/**
 * The agent's log: one JSON object per line on stderr (journald and log shippers read it as
 * is). Callers pass only what is safe to show — codes, names, kids, jtis, versions, paths —
 * never a secret value, an NSK, a bearer or an envelope; there is no field that takes one.
 */
export type AgentLogFields = Readonly<Record<string, string | number | boolean | undefined>>;

export interface AgentLog {
  info(msg: string, fields?: AgentLogFields): void;
  warn(msg: string, fields?: AgentLogFields): void;
  error(msg: string, fields?: AgentLogFields): void;
}

export function createAgentLog(write: (line: string) => void = (line) => { process.stderr.write(line); }, clock: () => Date = () => new Date()): AgentLog {
  const entry = (level: "info" | "warn" | "error") => (msg: string, fields: AgentLogFields = {}) => {
    write(`${JSON.stringify({ time: clock().toISOString(), level, component: "custos-agent", msg, ...fields })}\n`);
  };
  return { info: entry("info"), warn: entry("warn"), error: entry("error") };
}

/** An error's safe description: its code when it has one, and its message (CommandRefused and AgentStartRefused hold no secret). */
export function errorFields(error: unknown): AgentLogFields {
  const code = (error as { code?: unknown }).code;
  return { error: error instanceof Error ? error.message : String(error), ...(typeof code === "string" ? { code } : {}) };
}
