import { domainSubject } from "../platform/names.ts";
import { relationship, relationshipKey, type Authorizer, type Relation, type Relationship } from "./authorizer.ts";
import { decodeObjectId, domainRef, userRef } from "./object-ids.ts";

/**
 * The SpiceDB side of a domain: `domain:<d>#admin@user:…` and `#auditor@user:…`, the port
 * identity's putDomain writes through. The implementation diffs against the relationships
 * SpiceDB holds, not against a copy, so a PUT that failed halfway can never leave an admin
 * behind that a later PUT would miss.
 */
export interface DomainMembershipWriter {
  replaceMembers(domain: string, next: { admins: readonly string[]; auditors: readonly string[] }): Promise<void>;
}

/** Who administers and audits a domain as SpiceDB has it (provider `sub` values, sorted). */
export interface DomainMembershipReader {
  members(domain: string): Promise<{ admins: string[]; auditors: string[] }>;
}

const MEMBER_RELATIONS: readonly Relation[] = ["admin", "auditor"];

/**
 * DomainMembershipWriter over SpiceDB. The wanted `domain:<d>#admin|auditor@user:…` set is
 * compared with what SpiceDB actually holds (read fully consistent, not a local copy), and the
 * difference is applied in one atomic WriteRelationships call: missing ones touched, extra ones
 * deleted. A PUT that failed halfway therefore cannot leave an admin behind.
 */
export class SpiceDbDomainMembership implements DomainMembershipWriter, DomainMembershipReader {
  /** Per-domain chain: two PUTs of one domain in this process must not diff against the same read. */
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(private readonly authorizer: Authorizer) {}

  /** Throws authz_unavailable (SpiceDB) or invalid_name (a subject too long to encode). */
  replaceMembers(domain: string, next: { admins: readonly string[]; auditors: readonly string[] }): Promise<void> {
    const previous = this.inFlight.get(domain) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.replace(domain, next));
    this.inFlight.set(domain, run);
    const cleanup = (): void => { if (this.inFlight.get(domain) === run) this.inFlight.delete(domain); };
    run.then(cleanup, cleanup);
    return run;
  }

  private async replace(domain: string, next: { admins: readonly string[]; auditors: readonly string[] }): Promise<void> {
    const wanted = desiredMembers(domain, next);
    const current = await this.currentMembers(domain);
    const touch = [...wanted].filter(([key]) => !current.has(key)).map(([, rel]) => rel);
    const remove = [...current].filter(([key]) => !wanted.has(key)).map(([, rel]) => rel);
    if (touch.length === 0 && remove.length === 0) return;
    await this.authorizer.writeRelationships(touch, remove);
  }

  /**
   * The domain's admins and auditors, read fully consistent. Subjects are `oidc:<domain>:<sub>`;
   * the `sub` is shown. One of another namespace (written by something other than putDomain) is
   * shown whole, so it is noticed rather than hidden.
   */
  async members(domain: string): Promise<{ admins: string[]; auditors: string[] }> {
    const prefix = domainSubject(domain, "");
    const subOf = (rel: Relationship): string => {
      const [subject = ""] = decodeObjectId(rel.subject.id);
      return subject.startsWith(prefix) ? subject.slice(prefix.length) : subject;
    };
    const found = [...(await this.currentMembers(domain)).values()];
    const of = (relation: Relation) => found.filter((rel) => rel.relation === relation && rel.subject.type === "user").map(subOf).sort();
    return { admins: of("admin"), auditors: of("auditor") };
  }

  private async currentMembers(domain: string): Promise<Map<string, Relationship>> {
    const found = await this.authorizer.readRelationships(
      { resourceType: "domain", resourceId: domainRef(domain).id },
      { kind: "fully_consistent" },
    );
    const members = found.filter((rel) => MEMBER_RELATIONS.includes(rel.relation));
    return new Map(members.map((rel) => [relationshipKey(rel), rel]));
  }
}

function desiredMembers(domain: string, next: { admins: readonly string[]; auditors: readonly string[] }): Map<string, Relationship> {
  const resource = domainRef(domain);
  const rels = [
    ...next.admins.map((sub) => relationship(resource, "admin", userRef(domainSubject(domain, sub)))),
    ...next.auditors.map((sub) => relationship(resource, "auditor", userRef(domainSubject(domain, sub)))),
  ];
  return new Map(rels.map((rel) => [relationshipKey(rel), rel]));
}
