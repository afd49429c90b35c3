import { CustosError } from "./errors.ts";

/**
 * Names that reach SQL, SpiceDB or the secret backend are checked here first; anything else
 * in a path is 400 invalid_name and goes no further (DESIGN.md, "Names").
 */
/** A domain id's spelling (`platform` is refused apart, see isDomainId). */
export const DOMAIN_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** A node id: a lowercase UUID. The one spelling of it (the CLI's option checks use it too). */
export const NODE_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A node key's kid, as enrollment and rotation make them (and as the CLI and the agent check them). */
export const KID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

/** The system chain's name; no tenant may take it. */
export const PLATFORM_CHAIN = "platform";

export function isDomainId(value: string): boolean {
  return DOMAIN_ID_PATTERN.test(value) && value !== PLATFORM_CHAIN;
}

export function parseDomainId(value: unknown): string {
  if (typeof value !== "string" || !isDomainId(value)) {
    throw new CustosError("invalid_name", { detail: "a domain id is 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit, and not 'platform'" });
  }
  return value;
}

/** A domain id, or "platform" for the system chain (audit routes only). */
export function parseChainName(value: unknown): string {
  if (value === PLATFORM_CHAIN) return PLATFORM_CHAIN;
  return parseDomainId(value);
}

export function isSecretName(value: string): boolean {
  return SECRET_NAME.test(value);
}

export function parseSecretName(value: unknown): string {
  if (typeof value !== "string" || !isSecretName(value)) {
    throw new CustosError("invalid_name", { detail: "a secret name is 1-128 characters of A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit" });
  }
  return value;
}

export function parseNodeId(value: unknown): string {
  if (typeof value !== "string" || !isNodeId(value)) {
    throw new CustosError("invalid_name", { detail: "a node id is a lowercase UUID" });
  }
  return value;
}

export function isNodeId(value: string): boolean {
  return NODE_ID_PATTERN.test(value);
}

/** Two providers' `sub` never collide: subjects are namespaced by domain, `oidc:<domain>:<sub>`. */
export function domainSubject(domain: string, sub: string): string {
  return `oidc:${domain}:${sub}`;
}
