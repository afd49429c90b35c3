/** A tenant: its OIDC provider and who administers and audits it. */
export interface Domain {
  readonly id: string;
  /** Exactly the provider's `iss`. */
  readonly issuer: string;
  readonly clientId: string;
  /** Provider `sub` values, not yet namespaced. */
  readonly admins: readonly string[];
  readonly auditors: readonly string[];
}

/** Two providers' `sub` never collide: subjects are namespaced by domain. */
export function domainSubject(domain: string, sub: string): string {
  return `oidc:${domain}:${sub}`;
}

export interface DomainRepository {
  find(id: string): Promise<Domain | undefined>;
  /** Inserts or replaces; true when the domain is new. */
  upsert(domain: Domain): Promise<boolean>;
}

/**
 * The SpiceDB side of a domain: `domain:<d>#admin@user:…` and `#auditor@user:…`. The
 * implementation diffs against the relationships SpiceDB holds, not against a copy, so a
 * PUT that failed halfway can never leave an admin behind that a later PUT would miss.
 */
export interface DomainMembershipWriter {
  replaceMembers(domain: string, next: { admins: readonly string[]; auditors: readonly string[] }): Promise<void>;
}
