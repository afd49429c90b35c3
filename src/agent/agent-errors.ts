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

export class AgentStartRefused extends Error {
  readonly code: AgentStartRefusalCode;
  constructor(code: AgentStartRefusalCode, message: string) {
    super(message);
    this.name = "AgentStartRefused";
    this.code = code;
  }
}
