import type { JSONWebKeySet } from "jose";
import type { ProblemDocument } from "../../src/http/problem.ts";
import { fetchWithJar, type CookieJar } from "./oidc-driver.ts";

/**
 * Custos's HTTP API as the over-the-wire tests speak it: one place that knows the routes,
 * their bodies and their answers. Every call returns an `ApiAnswer` with the status, the
 * headers, the server's request id (to find the call's audit records) and the body, typed as
 * the route's success document or as problem+json.
 */

/** A bearer token (id_token, node bearer, operator token), or a browser session. */
export type Credential = string | { readonly jar: CookieJar; readonly csrf?: string };

export type Problem = ProblemDocument;

export interface ApiAnswer<T> {
  readonly status: number;
  readonly headers: Headers;
  /** The X-Request-Id the server gave this request: its audit records carry it. */
  readonly requestId: string;
  /** The body as sent. */
  readonly text: string;
  /** The parsed JSON body, whatever its status (undefined when the body is not JSON). */
  readonly json: unknown;
  /** The problem document of an error answer (undefined for a success). */
  readonly problem: Problem | undefined;
  /** The success document; throws, naming the status and body, for any other answer. */
  body(): T;
}

export interface EnrolledNode {
  readonly node_id: string;
  readonly kid: string;
  readonly nsk: string;
  /** RFC 7638 thumbprint of the domain's active event key (what an agent pins). */
  readonly event_key_thumbprint?: string;
}
export interface RotatedEventKey {
  readonly kid: string;
  readonly previous_kid: string;
}
export interface SecretVersion {
  readonly name: string;
  readonly version: number;
}
export interface SecretRelease extends SecretVersion {
  readonly jwe: string;
}
export interface RotationAnswer {
  readonly kid: string;
  readonly previous_kid: string;
  readonly previous_retires_at: string;
  readonly jwe: string;
}
export interface GrantAnswer {
  readonly grant: string;
  readonly jti: string;
  readonly expires_at: string;
}
export interface GrantRequest {
  readonly node_id: string;
  readonly action: string;
  readonly ttl_seconds?: number;
}
/** A page of a list route: `{ items, next_cursor? }`. */
export interface PageAnswer<Item> {
  readonly items: readonly Item[];
  readonly next_cursor?: string;
}
export interface SecretListItem {
  readonly name: string;
  readonly version: number;
  readonly updated_at: string;
  readonly reader_count: number;
}
export interface SecretMetadataAnswer {
  readonly name: string;
  readonly version: number;
  readonly created_at: string;
  readonly updated_at: string;
  readonly readers: readonly { readonly node_id: string; readonly name: string | null }[];
}
export interface IssuedGrantItem {
  readonly jti: string;
  readonly node_id: string;
  readonly action: string;
  readonly actor: string;
  readonly iat: number;
  readonly exp: number;
  readonly kid: string | null;
}
/** `?limit=&cursor=` of a list route, passed as given (tests send bad ones too). */
export interface PageQuery {
  readonly limit?: string | number;
  readonly cursor?: string;
}
export interface DomainDocument {
  readonly issuer: string;
  readonly client_id: string;
  readonly admins: readonly string[];
  readonly auditors: readonly string[];
}
export interface Paged<Item> {
  readonly items: readonly Item[];
  readonly next_cursor?: string;
}
export interface DomainSummaryDocument {
  readonly domain: string;
  readonly issuer: string;
  readonly client_id: string;
  readonly created_at: string;
  readonly updated_at: string;
}
export interface DomainView extends DomainSummaryDocument {
  readonly admins: readonly string[];
  readonly auditors: readonly string[];
  readonly counts: { readonly nodes: number; readonly secrets: number };
}
export interface NodeView {
  readonly node_id: string;
  readonly name: string;
  readonly state: "active" | "quarantined" | "decommissioned";
  readonly current_kid: string | null;
  readonly keys: readonly { readonly kid: string; readonly created_at: string; readonly retires_at: string | null }[];
  readonly enrolled_at: string;
  readonly last_read_at: string | null;
  readonly decommissioned_at: string | null;
}
/** `?limit=&cursor=` of a paged list; raw strings so that tests can send bad ones. */
export interface PageQuery {
  readonly limit?: string | number;
  readonly cursor?: string;
}
export interface VerifyReport {
  readonly chain: string;
  readonly ok: boolean;
  readonly [member: string]: unknown;
}
export interface Checkpoint {
  readonly chain: string;
  readonly alg: string;
  readonly [member: string]: unknown;
}
export interface Readiness {
  readonly status: string;
  readonly warnings?: readonly string[];
  readonly [member: string]: unknown;
}

interface RequestOptions {
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ApiClient {
  readonly baseUrl: string;
  /** Any route: for what the named calls below do not cover. */
  request<T = unknown>(method: string, path: string, as: Credential | undefined, options?: RequestOptions): Promise<ApiAnswer<T>>;
  readyz(): Promise<ApiAnswer<Readiness>>;
  putDomain(operatorToken: string, domain: string, body: DomainDocument | Record<string, unknown>): Promise<ApiAnswer<Record<string, unknown>>>;
  enroll(as: Credential, domain: string, name: string): Promise<ApiAnswer<EnrolledNode>>;
  quarantine(as: Credential, domain: string, nodeId: string): Promise<ApiAnswer<undefined>>;
  liftQuarantine(as: Credential, domain: string, nodeId: string): Promise<ApiAnswer<undefined>>;
  /** POST …/nodes/{id}/rotate-request: the node is sent nsk.rotate_requested. */
  requestRotation(as: Credential, domain: string, nodeId: string): Promise<ApiAnswer<undefined>>;
  rotateEventKey(as: Credential, domain: string): Promise<ApiAnswer<RotatedEventKey>>;
  rotateNsk(bearer: string, nodeId: string, proof?: unknown): Promise<ApiAnswer<RotationAnswer>>;
  readSecret(bearer: string, nodeId: string, name: string): Promise<ApiAnswer<SecretRelease>>;
  writeSecret(as: Credential, domain: string, name: string, body: { value: string } | Record<string, unknown>): Promise<ApiAnswer<SecretVersion>>;
  addReader(as: Credential, domain: string, name: string, nodeId: string): Promise<ApiAnswer<undefined>>;
  removeReader(as: Credential, domain: string, name: string, nodeId: string): Promise<ApiAnswer<undefined>>;
  issueGrant(as: Credential, domain: string, request: GrantRequest): Promise<ApiAnswer<GrantAnswer>>;
  listSecrets(as: Credential | undefined, domain: string, page?: PageQuery): Promise<ApiAnswer<PageAnswer<SecretListItem>>>;
  showSecret(as: Credential | undefined, domain: string, name: string): Promise<ApiAnswer<SecretMetadataAnswer>>;
  deleteSecret(as: Credential | undefined, domain: string, name: string): Promise<ApiAnswer<undefined>>;
  listGrants(as: Credential | undefined, domain: string, page?: PageQuery): Promise<ApiAnswer<PageAnswer<IssuedGrantItem>>>;
  jwks(domain: string): Promise<ApiAnswer<JSONWebKeySet>>;
  listDomains(as: Credential | undefined, page?: PageQuery): Promise<ApiAnswer<Paged<DomainSummaryDocument>>>;
  showDomain(as: Credential | undefined, domain: string): Promise<ApiAnswer<DomainView>>;
  listNodes(as: Credential | undefined, domain: string, page?: PageQuery): Promise<ApiAnswer<Paged<NodeView>>>;
  showNode(as: Credential | undefined, domain: string, nodeId: string): Promise<ApiAnswer<NodeView>>;
  decommission(as: Credential, domain: string, nodeId: string): Promise<ApiAnswer<undefined>>;
  verifyAudit(as: Credential, domain: string): Promise<ApiAnswer<VerifyReport>>;
  signCheckpoint(as: Credential, domain: string): Promise<ApiAnswer<Checkpoint>>;
}

function parseJson(text: string): unknown {
  try {
    return text === "" ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

function isProblem(json: unknown, contentType: string | null): json is Problem {
  return (contentType ?? "").startsWith("application/problem+json") && typeof json === "object" && json !== null;
}

async function answerOf<T>(method: string, path: string, response: Response): Promise<ApiAnswer<T>> {
  const text = await response.text();
  const json = parseJson(text);
  const problem = isProblem(json, response.headers.get("content-type")) ? json : undefined;
  return {
    status: response.status,
    headers: response.headers,
    requestId: response.headers.get("x-request-id") ?? "",
    text,
    json,
    problem,
    body(): T {
      if (response.status < 200 || response.status >= 300) throw new Error(`${method} ${path} answered HTTP ${String(response.status)}: ${text}`);
      return json as T;
    },
  };
}

const segment = encodeURIComponent;

function pageQuery(page: PageQuery = {}): string {
  const query = new URLSearchParams();
  if (page.limit !== undefined) query.set("limit", String(page.limit));
  if (page.cursor !== undefined) query.set("cursor", page.cursor);
  const text = query.toString();
  return text === "" ? "" : `?${text}`;
}

export function createApiClient(baseUrl: string, options: { onAnswer?: (answer: ApiAnswer<unknown>) => void } = {}): ApiClient {
  async function request<T>(method: string, path: string, as: Credential | undefined, request: RequestOptions = {}): Promise<ApiAnswer<T>> {
    const headers: Record<string, string> = { ...request.headers };
    if (request.body !== undefined) headers["content-type"] = "application/json";
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    let response: Response;
    if (as === undefined || typeof as === "string") {
      if (as !== undefined) headers.authorization = `Bearer ${as}`;
      response = await fetch(`${baseUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    } else {
      if (as.csrf !== undefined) headers["x-csrf-token"] = as.csrf;
      response = await fetchWithJar(new URL(`${baseUrl}${path}`), as.jar, { method, headers, ...(body === undefined ? {} : { body }) });
    }
    const answer = await answerOf<T>(method, path, response);
    options.onAnswer?.(answer);
    return answer;
  }
  const domainPath = (domain: string) => `/v1/domains/${segment(domain)}`;
  const readerPath = (domain: string, name: string, nodeId: string) => `${domainPath(domain)}/secrets/${segment(name)}/readers/${segment(nodeId)}`;
  const quarantinePath = (domain: string, nodeId: string) => `${domainPath(domain)}/nodes/${segment(nodeId)}/quarantine`;
  return {
    baseUrl,
    request,
    readyz: () => request("GET", "/readyz", undefined),
    putDomain: (operatorToken, domain, body) => request("PUT", domainPath(domain), operatorToken, { body }),
    enroll: (as, domain, name) => request("POST", `${domainPath(domain)}/nodes`, as, { body: { name } }),
    quarantine: (as, domain, nodeId) => request("POST", quarantinePath(domain, nodeId), as),
    liftQuarantine: (as, domain, nodeId) => request("DELETE", quarantinePath(domain, nodeId), as),
    requestRotation: (as, domain, nodeId) => request("POST", `${domainPath(domain)}/nodes/${segment(nodeId)}/rotate-request`, as),
    rotateEventKey: (as, domain) => request("POST", `${domainPath(domain)}/event-keys/rotate`, as),
    rotateNsk: (bearer, nodeId, proof) => request("POST", `/v1/nodes/${segment(nodeId)}/nsk/rotate`, bearer, proof === undefined ? {} : { body: proof }),
    readSecret: (bearer, nodeId, name) => request("GET", `/v1/nodes/${segment(nodeId)}/secrets/${segment(name)}`, bearer),
    writeSecret: (as, domain, name, body) => request("PUT", `${domainPath(domain)}/secrets/${segment(name)}`, as, { body }),
    addReader: (as, domain, name, nodeId) => request("PUT", readerPath(domain, name, nodeId), as),
    removeReader: (as, domain, name, nodeId) => request("DELETE", readerPath(domain, name, nodeId), as),
    issueGrant: (as, domain, grant) => request("POST", `${domainPath(domain)}/grants`, as, { body: grant }),
    listSecrets: (as, domain, page) => request("GET", `${domainPath(domain)}/secrets${pageQuery(page)}`, as),
    showSecret: (as, domain, name) => request("GET", `${domainPath(domain)}/secrets/${segment(name)}`, as),
    deleteSecret: (as, domain, name) => request("DELETE", `${domainPath(domain)}/secrets/${segment(name)}`, as),
    listGrants: (as, domain, page) => request("GET", `${domainPath(domain)}/grants${pageQuery(page)}`, as),
    jwks: (domain) => request("GET", `${domainPath(domain)}/jwks.json`, undefined),
    listDomains: (as, page) => request("GET", `/v1/domains${pageQuery(page)}`, as),
    showDomain: (as, domain) => request("GET", domainPath(domain), as),
    listNodes: (as, domain, page) => request("GET", `${domainPath(domain)}/nodes${pageQuery(page)}`, as),
    showNode: (as, domain, nodeId) => request("GET", `${domainPath(domain)}/nodes/${segment(nodeId)}`, as),
    decommission: (as, domain, nodeId) => request("DELETE", `${domainPath(domain)}/nodes/${segment(nodeId)}`, as),
    verifyAudit: (as, domain) => request("GET", `${domainPath(domain)}/audit/verify`, as),
    signCheckpoint: (as, domain) => request("POST", `${domainPath(domain)}/audit/checkpoints`, as),
  };
}
