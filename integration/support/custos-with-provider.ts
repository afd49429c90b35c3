import { randomBytes } from "node:crypto";
import { deriveBearerSecret, deriveWrapKey, formatNodeBearer } from "../../src/nodes/nsk.ts";
import { createApiClient, type ApiClient, type EnrolledNode } from "./api-client.ts";
import type { DevProvider, DevStrength } from "../../src/dev/provider/dev-provider.ts";
import type { Authorizer } from "../../src/authz/authorizer.ts";
import { buildCustos, type Custos } from "../../src/custos.ts";
import { callbackFor, CLIENT_ID, obtainIdToken, startTestProvider } from "../identity/oidc-fixtures.ts";
import { testConfig } from "./config.ts";
import { serveOnLoopback, type TestServer } from "./http.ts";
import { captureLogger, type CapturedLogger } from "./logger.ts";
import { createCookieJar, driveSignIn, fetchWithJar, type CookieJar } from "./oidc-driver.ts";
import { createIsolatedStore, type IsolatedStore, type StoreKind } from "./stores.ts";

/**
 * Custos served on loopback next to a real OpenID provider (the development provider, on
 * oidc-provider), with domain `acme` wired to it: admin `alice`, auditor `bob@example.org`.
 * Everything a test does goes over HTTP.
 */
export interface CustosWithProvider {
  readonly custos: Custos;
  readonly server: TestServer;
  readonly provider: DevProvider;
  readonly store: IsolatedStore;
  readonly operatorToken: string;
  readonly logs: CapturedLogger;
  /** The API, over HTTP. */
  readonly api: ApiClient;
  /** An id_token from the provider, as an admin's tool would present it. */
  idToken(account: string, strength: DevStrength): Promise<string>;
  /** A browser session signed in through Custos; `csrf` is the token for unsafe methods. */
  browserSession(account: string, strength: DevStrength, step?: { acrValues?: string; maxAge?: number; jar?: CookieJar }): Promise<{ jar: CookieJar; csrf: string }>;
  putDomain(domain: string, body: Record<string, unknown>): Promise<Response>;
  /**
   * A domain of the test's own (unique id, on this provider, admin `alice`, auditor
   * `bob@example.org`) with freshly enrolled nodes: what one test does to it (denials that
   * the summariser folds, quarantines, revocations, rate limits) no other test sees.
   */
  freshTenant(options?: { nodes?: readonly string[] }): Promise<Tenant>;
  /** Moves Custos's clock (not the provider's): auth_time grows old without waiting. */
  advanceClock(seconds: number): void;
  close(): Promise<void>;
}

/** A domain and nodes that belong to one test. */
export interface Tenant {
  readonly domain: string;
  /** A fresh, stepped-up (mfa) id_token of the domain's admin. */
  readonly admin: string;
  readonly nodes: readonly EnrolledNode[];
}

/** The bearer a node presents: its kid and the secret derived from its NSK. */
export function nodeBearer(node: { readonly kid: string; readonly nsk: string }): string {
  return formatNodeBearer(node.kid, deriveBearerSecret(Buffer.from(node.nsk, "base64url")));
}

/** The key a node opens its secrets with. */
export function nodeWrapKey(node: { readonly nsk: string }): Buffer {
  return deriveWrapKey(Buffer.from(node.nsk, "base64url"));
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString("hex")}`;
}

export async function startCustosWithProvider(
  options: { kind?: StoreKind; domains?: readonly string[]; env?: Record<string, string>; decorateAuthorizer?: (authorizer: Authorizer) => Authorizer; denialWindowMs?: number } = {},
): Promise<CustosWithProvider> {
  const operatorToken = randomBytes(32).toString("base64url");
  const store = await createIsolatedStore(options.kind ?? "pglite");
  const logs = captureLogger();
  let offset = 0;
  const now = () => Math.floor(Date.now() / 1000) + offset;
  const custos = await buildCustos({ config: testConfig({ CUSTOS_OPERATOR_TOKEN: operatorToken, ...options.env }), database: store.db, logger: logs.logger, now,
    ...(options.decorateAuthorizer === undefined ? {} : { decorateAuthorizer: options.decorateAuthorizer }),
    ...(options.denialWindowMs === undefined ? {} : { denialWindowMs: options.denialWindowMs }),
  });
  const server = await serveOnLoopback(custos.app);
  const domains = options.domains ?? ["acme"];
  const provider = await startTestProvider(domains, {
    clients: [{ client_id: CLIENT_ID, redirect_uris: domains.flatMap((d) => [callbackFor(d), `${server.url}/auth/${d}/callback`]) }],
  });

  const putDomain = (domain: string, body: Record<string, unknown>) =>
    fetch(`${server.url}/v1/domains/${domain}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${operatorToken}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const api = createApiClient(server.url);
  const created = await putDomain("acme", { issuer: provider.issuer, client_id: CLIENT_ID, admins: ["alice"], auditors: ["bob@example.org"] });
  if (created.status !== 201) throw new Error(`PUT /v1/domains/acme answered ${String(created.status)}: ${await created.text()}`);

  const idToken = (account: string, strength: DevStrength) => obtainIdToken(provider, "acme", { account, strength });
  async function freshTenant(tenant: { nodes?: readonly string[] } = {}): Promise<Tenant> {
    const domain = uniqueName("t");
    (await api.putDomain(operatorToken, domain, { issuer: provider.issuer, client_id: CLIENT_ID, admins: ["alice"], auditors: ["bob@example.org"] })).body();
    const admin = await idToken("alice", "mfa");
    const nodes: EnrolledNode[] = [];
    for (const name of tenant.nodes ?? []) nodes.push((await api.enroll(admin, domain, name)).body());
    return { domain, admin, nodes };
  }

  return {
    custos, server, provider, store, operatorToken, logs, putDomain, api, freshTenant, idToken,
    advanceClock(seconds) {
      offset += seconds;
    },
    async browserSession(account, strength, step = {}) {
      const jar = step.jar ?? createCookieJar();
      const login = new URL(`${server.url}/auth/acme/login`);
      if (step.acrValues !== undefined) login.searchParams.set("acr_values", step.acrValues);
      if (step.maxAge !== undefined) login.searchParams.set("max_age", String(step.maxAge));
      const started = await fetchWithJar(login, jar);
      const location = started.headers.get("location");
      if (started.status !== 303 || location === null) throw new Error(`login answered ${String(started.status)}`);
      const callback = await driveSignIn(location, { account, strength, jar });
      const finished = await fetchWithJar(callback, jar);
      if (finished.status !== 303) throw new Error(`callback answered ${String(finished.status)}: ${await finished.text()}`);
      const session = await fetchWithJar(new URL(`${server.url}/auth/session`), jar);
      const body = (await session.json()) as { csrf_token: string };
      return { jar, csrf: body.csrf_token };
    },
    async close() {
      await server.close();
      await provider.close();
      await custos.close();
      await store.dispose();
    },
  };
}
