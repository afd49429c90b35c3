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

export { domainSubject } from "../../platform/names.ts";

/** What the read APIs show of a domain's row: its provider and times (ISO 8601). */
export interface DomainSummary {
  readonly id: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** The read APIs' side of the domains table (the same SQL adapter as DomainRepository). */
export interface DomainListing {
  /** Domains with ids after `after`, in id order, at most `limit`. */
  list(after: string | undefined, limit: number): Promise<DomainSummary[]>;
  findSummary(id: string): Promise<DomainSummary | undefined>;
}

export interface DomainRepository {
  find(id: string): Promise<Domain | undefined>;
  /** Inserts or replaces; true when the domain is new. */
  upsert(domain: Domain): Promise<boolean>;
}
