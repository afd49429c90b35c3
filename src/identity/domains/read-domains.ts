import type { DomainMembershipReader } from "../../authz/domain-membership.ts";
import { pageOf, type Page, type PageRequest } from "../../http/paging.ts";
import { CustosError } from "../../platform/errors.ts";
import { isDomainId } from "../../platform/names.ts";
import type { DomainListing, DomainSummary } from "./domain.ts";

/**
 * The domain read verbs: metadata only. Who may call them is the route's gate (the operator
 * for the list; the domain's admins and auditors for one domain); a successful read is not
 * audited (docs/design.md, "Audit log").
 */

export interface ListDomainsDependencies {
  readonly domains: Pick<DomainListing, "list">;
}

/** GET /v1/domains: one page, in id order. */
export async function listDomains(deps: ListDomainsDependencies, page: PageRequest): Promise<Page<DomainSummary>> {
  // The cursor is the last domain id of the previous page; anything else was not made by us.
  if (page.after !== undefined && !isDomainId(page.after)) throw new CustosError("invalid_request", { detail: "cursor must be a next_cursor from an earlier page" });
  return pageOf(await deps.domains.list(page.after, page.limit + 1), page, (domain) => domain.id);
}

export interface ShowDomainDependencies {
  readonly domains: Pick<DomainListing, "findSummary">;
  /** Admins and auditors as SpiceDB has them (the row's lists are what the operator last put). */
  readonly membership: DomainMembershipReader;
  /** How many nodes (not decommissioned) and secrets the domain has. */
  readonly countNodes: (domain: string) => Promise<number>;
  readonly countSecrets: (domain: string) => Promise<number>;
}

export interface DomainView extends DomainSummary {
  readonly admins: readonly string[];
  readonly auditors: readonly string[];
  readonly counts: { readonly nodes: number; readonly secrets: number };
}

/** GET /v1/domains/{domain}. */
export async function showDomain(deps: ShowDomainDependencies, domain: string): Promise<DomainView> {
  const summary = await deps.domains.findSummary(domain);
  if (summary === undefined) throw new CustosError("not_found", { detail: "no such domain" });
  const [members, nodes, secrets] = await Promise.all([deps.membership.members(domain), deps.countNodes(domain), deps.countSecrets(domain)]);
  return { ...summary, ...members, counts: { nodes, secrets } };
}

/** The wire shape of a domain in the list. */
export function domainSummaryBody(domain: DomainSummary): Record<string, unknown> {
  return { domain: domain.id, issuer: domain.issuer, client_id: domain.clientId, created_at: domain.createdAt, updated_at: domain.updatedAt };
}

/** The wire shape of one domain. */
export function domainBody(domain: DomainView): Record<string, unknown> {
  return { ...domainSummaryBody(domain), admins: domain.admins, auditors: domain.auditors, counts: domain.counts };
}
