import { readRecordsOf } from "../audit/audit-store.ts";
import type { ChainedAuditRecord } from "../audit/audit-record.ts";
import { pageOf, type Page, type PageRequest } from "../http/paging.ts";
import type { SqlSession } from "../platform/db/database.ts";
import { CustosError } from "../platform/errors.ts";

/**
 * GET /v1/domains/{domain}/grants: the grants a domain issued, read from its audit chain (the
 * granted `access.issue` records, committed before each grant was signed), so the list is
 * exactly what the chain proves. The grant itself (the JWS) was never stored and is never shown.
 */

export interface IssuedGrantRecord {
  readonly jti: string;
  readonly nodeId: string;
  /** What the grant lets the admin do on the node, e.g. `ssh.login`. */
  readonly action: string;
  /** Who was issued it: the audit actor, `user:oidc:<domain>:<sub>`. */
  readonly actor: string;
  /** Epoch seconds, as in the grant's `iat` and `exp`. */
  readonly iat: number;
  readonly exp: number;
  readonly kid: string | undefined;
  /** The audit record's seq: the page's sort key. */
  readonly seq: number;
}

const NODE_RESOURCE = "node:";

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function whole(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) ? value : undefined;
}

/**
 * One granted record as an issued grant. Records written before `iat` and `exp` were in the
 * details have them worked out: the record's time (within the same second as the grant's
 * `iat`, at most a little later) and `ttl_seconds`.
 */
function issuedGrantOf(record: ChainedAuditRecord): IssuedGrantRecord {
  const { details } = record;
  const iat = whole(details.iat) ?? Math.floor(Date.parse(record.at) / 1000);
  const exp = whole(details.exp) ?? iat + (whole(details.ttl_seconds) ?? 0);
  return {
    jti: text(details.jti) ?? "",
    nodeId: record.resource.startsWith(NODE_RESOURCE) ? record.resource.slice(NODE_RESOURCE.length) : record.resource,
    action: text(details.action) ?? "",
    actor: record.actor,
    iat,
    exp,
    kid: text(details.kid),
    seq: record.seq,
  };
}

function afterSeq(after: string | undefined): number {
  if (after === undefined) return 0;
  if (!/^\d{1,15}$/.test(after)) throw new CustosError("invalid_request", { detail: "cursor must be a next_cursor from an earlier page" });
  return Number(after);
}

export async function listIssuedGrants(db: SqlSession, input: { readonly domain: string; readonly page: PageRequest }): Promise<Page<IssuedGrantRecord>> {
  const { domain, page } = input;
  const records = await readRecordsOf(db, domain, { action: "access.issue", decision: "granted" }, afterSeq(page.after), page.limit + 1);
  return pageOf(records.map(issuedGrantOf), page, (grant) => String(grant.seq));
}
