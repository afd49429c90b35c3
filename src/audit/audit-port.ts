import type { Actor, AuditAction, Resource } from "./audit-vocabulary.ts";

/**
 * What every capability writes through. An append resolves only once the record is durably
 * committed in its chain, and rejects with CustosError("audit_unavailable") otherwise: the
 * caller must then refuse, never release (fail closed).
 */
export type AuditDecision = "granted" | "denied" | "recorded";

export interface AuditEventInput {
  /** A domain id, or "platform" for system and operator events. */
  readonly chain: string;
  /** Who acted (see audit-vocabulary.ts). */
  readonly actor: Actor;
  /** `{entity}.{verb}`: `secret.read`, `access.issue`, `node.enroll`, `domain.put`. */
  readonly action: AuditAction;
  /** What was acted on: `secret:<domain>/<name>`, `node:<id>`, `domain:<id>`. */
  readonly resource: Resource;
  readonly decision: AuditDecision;
  /** A stable reason code: `ok`, `permission_denied`, `auth_time_stale`, … */
  readonly reason: string;
  readonly requestId: string;
  /** Never secret values, tokens or NSKs. */
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface AuditReceipt {
  readonly chain: string;
  readonly seq: number;
  readonly hash: string;
}

export interface AuditAppender {
  append(event: AuditEventInput): Promise<AuditReceipt>;
}
