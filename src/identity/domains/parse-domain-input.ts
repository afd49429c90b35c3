import { jsonObjectBody } from "../../http/request-body.ts";
import { CustosError } from "../../platform/errors.ts";
import { isLoopbackHost } from "../../platform/loopback.ts";

export interface DomainInput {
  readonly issuer: string;
  readonly clientId: string;
  readonly admins: readonly string[];
  readonly auditors: readonly string[];
}

const MAX_MEMBERS = 1000;
const MAX_SUB_LENGTH = 255;

function invalid(detail: string): CustosError {
  return new CustosError("invalid_request", { detail });
}

/** https:// always; plain http only on loopback, for development and tests (DESIGN.md). */
export function parseIssuer(value: unknown): string {
  if (typeof value !== "string" || value.length > 2048) throw invalid("issuer must be a URL");
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid("issuer must be a URL");
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackHost(url.hostname))) {
    throw invalid("issuer must use https:// (plain http is accepted only on loopback addresses)");
  }
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw invalid("issuer must not carry a query, a fragment or credentials");
  }
  return value;
}

function parseSubjects(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(`${field} must be an array of subject strings`);
  if (value.length > MAX_MEMBERS) throw invalid(`${field} may list at most ${MAX_MEMBERS} subjects`);
  const subjects = value.map((item: unknown) => {
    if (typeof item !== "string" || item.length === 0 || item.length > MAX_SUB_LENGTH) {
      throw invalid(`${field} entries must be non-empty strings of at most ${MAX_SUB_LENGTH} characters`);
    }
    return item;
  });
  return [...new Set(subjects)].sort();
}

/** The body of PUT /v1/domains/{domain}; unknown members are refused, not ignored. */
export function parseDomainInput(body: unknown): DomainInput {
  const record = jsonObjectBody(body, ["issuer", "client_id", "admins", "auditors"]);
  const clientId = record.client_id;
  if (typeof clientId !== "string" || clientId.length === 0 || clientId.length > 255) {
    throw invalid("client_id must be a non-empty string of at most 255 characters");
  }
  return {
    issuer: parseIssuer(record.issuer),
    clientId,
    admins: parseSubjects(record.admins, "admins"),
    auditors: parseSubjects(record.auditors, "auditors"),
  };
}
