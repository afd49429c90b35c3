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

export interface DomainRepository {
  find(id: string): Promise<Domain | undefined>;
  /** Inserts or replaces; true when the domain is new. */
  upsert(domain: Domain): Promise<boolean>;
}
