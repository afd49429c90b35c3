/**
 * Why the agent will not start (or go on): the code is stable for scripts and tests, the
 * message names the file or setting and what to do. Never holds a secret, an NSK or a bearer.
 */
export type AgentStartRefusalCode =
  | "replay_cache_corrupt"
  | "state_corrupt"
  | "event_key_not_pinned"
  | "event_key_thumbprint_mismatch"
  | "jwks_unavailable"
  | "nsk_unreadable";

/** An agent refusal with a stable code (jose's style: the code is what tests and scripts match). */
export class AgentRefusal<Code extends string> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

export class AgentStartRefused extends AgentRefusal<AgentStartRefusalCode> {}
