/**
 * The words an audit record is written in. Every record names what was attempted (`action`),
 * who attempted it (`actor`) and what it was about (`resource`); this module is the one place
 * those are spelled, so an auditor's query for `secret.read` on `secret:acme/db` finds every
 * such record, whichever capability wrote it.
 *
 * Reasons are the capabilities' own: each exports a union of the reasons it records (the
 * step-up gate's `StepUpDenialReason`, node authentication's `NodeAuthenticationReason`, …),
 * and `ok` is the reason of every granted or recorded change.
 */

/** `{entity}.{verb}`: the elevated actions first (DESIGN.md, "Step-up"), then the rest. */
export const AUDIT_ACTIONS = [
  "node.enroll",
  "node.quarantine",
  "node.decommission",
  "secret.write",
  "secret.grant",
  "secret.delete",
  "access.issue",
  "node.rotate_request",
  "event_key.rotate",
  "secret.read",
  "node.rotate",
  "domain.put",
  "domain.read",
  "session.create",
  "session.end",
  "auth.authenticate",
  "operator.authenticate",
  "audit.read",
  "audit.checkpoint",
  "audit.late_commit",
  "audit.rotate_key",
  "migration.down",
  "backend.rewrap",
  "event.publish",
  "event.subscribe",
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/**
 * Who acted. A person is `user:oidc:<domain>:<sub>`; a node `node:<id>`; the operator token
 * `operator`; a person at the server's own console `operator:<login>`; a component acting
 * on its own `system:<component>`; Custos itself `custos`; and a caller whose credential could not be verified `anonymous`.
 */
export type Actor = `user:${string}` | `node:${string}` | "operator" | `operator:${string}` | `system:${string}` | "custos" | "anonymous";

export const auditActor = {
  /** `subject` is already namespaced: `oidc:<domain>:<sub>`. */
  user: (subject: string): Actor => `user:${subject}`,
  node: (nodeId: string): Actor => `node:${nodeId}`,
  operator: "operator",
  /** Someone running the CLI on the server itself, by their login name. */
  localOperator: (login: string): Actor => `operator:${login}`,
  /** A component acting on its own (the development seed: `system:dev-seed`). */
  system: (component: string): Actor => `system:${component}`,
  custos: "custos",
  anonymous: "anonymous",
} as const satisfies Readonly<Record<string, Actor | ((value: string) => Actor)>>;

/** What an action was about. */
export type Resource =
  | `secret:${string}/${string}`
  | `node:${string}`
  | `domain:${string}`
  | `chain:${string}`
  | `migration:${string}`
  | `transit-key:${string}`
  | `audit-key:${string}`
  | `${string} /${string}`;

export const auditResource = {
  secret: (domain: string, name: string): Resource => `secret:${domain}/${name}`,
  node: (nodeId: string): Resource => `node:${nodeId}`,
  domain: (domainId: string): Resource => `domain:${domainId}`,
  chain: (chain: string): Resource => `chain:${chain}`,
  migration: (versionAndName: string): Resource => `migration:${versionAndName}`,
  transitKey: (name: string): Resource => `transit-key:${name}`,
  /** An audit signing key, by its key id. */
  auditKey: (keyId: string): Resource => `audit-key:${keyId}`,
  /** A method and route template (never the raw, client-chosen path): `PUT /v1/domains/:domain`. */
  route: (method: string, template: string): Resource => `${method} ${template}` as Resource,
} as const;
