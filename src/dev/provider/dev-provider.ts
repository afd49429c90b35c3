import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Configuration, Grant, Interaction, KoaContextWithOidc, Provider } from "oidc-provider";
import { createDevStore, type DevStore } from "./dev-adapter.ts";
import {
  DEV_ACR_MFA,
  DEV_ACR_PASSWORD,
  DEV_STRENGTHS,
  parseLoginSubmission,
  preferredStrength,
  renderLoginPage,
  renderMessagePage,
  type DevAccount,
  type DevStrength,
} from "./interaction-page.ts";
import { importOidcProvider } from "./quiet-import.ts";
import { newDevSigningKey, type DevSigningAlgorithm, type DevSigningKey } from "./signing-keys.ts";
import { isLoopbackHost } from "../../platform/loopback.ts";

export { DEV_ACR_MFA, DEV_ACR_PASSWORD, DEV_STRENGTHS, type DevAccount, type DevStrength };
export type { DevSigningAlgorithm };

type OidcProviderModule = typeof import("oidc-provider");

/** A relying party the development provider knows: public, PKCE S256, code flow only. */
export interface DevClient {
  readonly client_id: string;
  readonly redirect_uris: readonly string[];
}

export interface DevProviderOptions {
  /** A loopback address: the provider speaks plain HTTP. Default `127.0.0.1`. */
  readonly host?: string;
  /** Default 0: an ephemeral port, read back from `url`. */
  readonly port?: number;
  readonly clients: readonly DevClient[];
  readonly accounts: readonly DevAccount[];
  /** id_token signature algorithm. Default ES256. */
  readonly signingAlg?: DevSigningAlgorithm;
  /** id_token lifetime. Default 3600 s. */
  readonly idTokenTtlSeconds?: number;
  /** Default `process.env.NODE_ENV`; `production` refuses to start. */
  readonly nodeEnv?: string | undefined;
  /** Errors the provider answered with 500; default: oidc-provider's (Koa's) stderr logging. */
  readonly onServerError?: (error: unknown) => void;
}

export interface RotateKeysOptions {
  /**
   * Keep publishing the key that signed until now (default true, as real providers do during
   * a rollover). With false it leaves the JWKS at once, so tokens it signed stop verifying as
   * soon as a relying party refreshes.
   */
  readonly keepPrevious?: boolean;
}

export interface DevProvider {
  /** Exactly the `iss` of the tokens it issues (no trailing slash). */
  readonly issuer: string;
  /** Where it listens; the same origin as the issuer. */
  readonly url: string;
  /** The kid that signs new id_tokens. */
  readonly signingKid: string;
  /** The kids in the published JWKS, signing key first. */
  publishedKids(): readonly string[];
  /** Switches to a new signing key and publishes it; resolves with its kid. */
  rotateKeys(options?: RotateKeysOptions): Promise<string>;
  close(): Promise<void>;
}

export type DevProviderRefusal = "production" | "not_loopback" | "no_clients" | "no_accounts";

/** Startup refusals: the development provider is never a production identity provider. */
export class DevProviderRefused extends Error {
  readonly code: DevProviderRefusal;

  constructor(code: DevProviderRefusal, message: string) {
    super(message);
    this.name = "DevProviderRefused";
    this.code = code;
  }
}

const MAX_FORM_BYTES = 8 * 1024;
const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]{1,128})(?:\/(login|abort))?$/;

function checkStartable(options: DevProviderOptions, host: string): void {
  const nodeEnv = "nodeEnv" in options ? options.nodeEnv : process.env.NODE_ENV;
  if (nodeEnv === "production") {
    throw new DevProviderRefused("production", "the development OpenID provider refuses to start under NODE_ENV=production");
  }
  if (!isLoopbackHost(host)) {
    throw new DevProviderRefused("not_loopback", `the development OpenID provider listens on loopback only, not ${host}`);
  }
  if (options.clients.length === 0) throw new DevProviderRefused("no_clients", "the development OpenID provider needs at least one client");
  if (options.accounts.length === 0) throw new DevProviderRefused("no_accounts", "the development OpenID provider needs at least one account");
}

function originOf(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

async function listen(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

// ---------------------------------------------------------------------------------------------
// Provider configuration

interface Settings {
  readonly options: DevProviderOptions;
  readonly alg: DevSigningAlgorithm;
  readonly store: DevStore;
  /** Signs oidc-provider's cookies; shared by every instance so a rotation keeps sessions. */
  readonly cookieKey: string;
}

/**
 * Two checks added to oidc-provider's login prompt:
 * - `max_age=0` asks for a new login even within the second of the last one (the stock check
 *   compares with `>`, so it would not), as OIDC Core's note on max_age=0 intends;
 * - `acr_values` none of which the session's acr satisfies asks for a new login: this is how a
 *   step-up re-run reaches the page. Once the person has answered, the result stands even when
 *   weaker than asked (acr_values are voluntary); the relying party's gate judges it.
 */
function interactionPolicyFor(oidc: OidcProviderModule): Configuration["interactions"] {
  const { Check } = oidc.interactionPolicy;
  const policy = oidc.interactionPolicy.base();
  const login = policy.get("login");
  if (login === undefined) throw new Error("oidc-provider's base policy has no login prompt");
  const answered = (ctx: KoaContextWithOidc): boolean => ctx.oidc.result?.login !== undefined;
  login.checks.add(
    new Check("max_age_zero", "a fresh authentication was requested", (ctx) => {
      const maxAge = ctx.oidc.params?.max_age;
      return maxAge !== undefined && Number(maxAge) === 0 && !answered(ctx) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
  login.checks.add(
    new Check("acr_values_not_met", "the requested authentication context class was not obtained", (ctx) => {
      const acrValues = ctx.oidc.params?.acr_values;
      if (typeof acrValues !== "string" || answered(ctx) || ctx.oidc.session.accountId === undefined) return Check.NO_NEED_TO_PROMPT;
      const acr = ctx.oidc.session.acr;
      return acr !== undefined && acrValues.split(" ").includes(acr) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }),
  );
  return { policy, url: (_ctx: KoaContextWithOidc, interaction: Interaction) => `/interaction/${interaction.uid}` };
}

/**
 * RFC 8252 §7.3: a native client (`custos login`) listens on an ephemeral loopback port, so any
 * port on 127.0.0.1 must be accepted for its redirect URI. oidc-provider does exactly that for
 * `application_type: native` clients whose registered URI is on loopback without a port (and,
 * being per client, for every loopback URI the client registers; development only).
 */
const LOOPBACK_REDIRECT_URI = "http://127.0.0.1/callback";

function clientMetadata(client: DevClient, alg: DevSigningAlgorithm): NonNullable<Configuration["clients"]>[number] {
  return {
    client_id: client.client_id,
    application_type: "native",
    redirect_uris: [...client.redirect_uris, LOOPBACK_REDIRECT_URI],
    // Public clients: no secret; oidc-provider then requires PKCE, and v9 accepts only S256.
    token_endpoint_auth_method: "none",
    grant_types: ["authorization_code"],
    response_types: ["code"],
    id_token_signed_response_alg: alg,
  };
}

function providerConfiguration(oidc: OidcProviderModule, settings: Settings, keys: readonly DevSigningKey[]): Configuration {
  const { options, alg, store } = settings;
  return {
    adapter: store.adapter,
    clients: options.clients.map((client) => clientMetadata(client, alg)),
    jwks: { keys: keys.map((key) => ({ ...key })) },
    acrValues: [DEV_ACR_PASSWORD, DEV_ACR_MFA],
    // acr, amr and auth_time ride on the openid scope so every id_token carries them, asked or not.
    claims: { openid: ["sub", "acr", "amr", "auth_time"], profile: ["name"], acr: null, amr: null, auth_time: null, sid: null, iss: null },
    scopes: ["openid", "profile"],
    // The code flow only: nothing issues tokens through the front channel.
    responseTypes: ["code"],
    cookies: { keys: [settings.cookieKey] },
    features: { devInteractions: { enabled: false } },
    interactions: interactionPolicyFor(oidc),
    ttl: { IdToken: options.idTokenTtlSeconds ?? 3600, AccessToken: 600, AuthorizationCode: 60, Interaction: 900, Session: 8 * 3600, Grant: 8 * 3600 },
    findAccount: (_ctx, sub) => {
      const account = options.accounts.find((candidate) => candidate.id === sub);
      if (account === undefined) return Promise.resolve(undefined);
      return Promise.resolve({ accountId: account.id, claims: () => Promise.resolve({ sub: account.id, name: account.name }) });
    },
    loadExistingGrant: (ctx) => loadOrGrant(ctx),
    renderError: (ctx, out) => {
      ctx.type = "html";
      ctx.body = renderMessagePage("Sign-in error", `${out.error ?? "error"}: ${out.error_description ?? ""}`);
      return Promise.resolve();
    },
    // Nothing here is meant to be called from another origin's script.
    clientBasedCORS: () => false,
  };
}

/**
 * Consent is implied for the configured clients (they are all Custos): the first request of a
 * session gets a grant covering the scopes it asked for, so the consent prompt never shows.
 */
async function loadOrGrant(ctx: KoaContextWithOidc): Promise<Grant | undefined> {
  const { provider, session, client, result, params } = ctx.oidc;
  if (client === undefined) return undefined;
  const grantId = result?.consent?.grantId ?? session.grantIdFor(client.clientId);
  if (grantId !== undefined) return provider.Grant.find(grantId);
  if (session.accountId === undefined) return undefined;
  const grant = new provider.Grant({ accountId: session.accountId, clientId: client.clientId });
  grant.addOIDCScope(typeof params?.scope === "string" ? params.scope : "openid");
  await grant.save();
  return grant;
}

// ---------------------------------------------------------------------------------------------
// The interaction pages, served next to the provider on the same origin

function send(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    // No form-action: after the POST the provider redirects to the client, another origin.
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  });
  res.end(html);
}

async function readForm(req: IncomingMessage): Promise<string | undefined> {
  if (!(req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function loginPage(interaction: Interaction, accounts: readonly DevAccount[], problem: string | undefined): string {
  const { params, prompt, session } = interaction;
  const text = (value: unknown): string | undefined => (typeof value === "string" || typeof value === "number" ? String(value) : undefined);
  return renderLoginPage({
    uid: interaction.uid,
    clientId: text(params.client_id) ?? "",
    accounts,
    selectedAccount: text(params.login_hint) ?? session?.accountId,
    selectedStrength: preferredStrength(params.acr_values),
    acrValues: text(params.acr_values),
    maxAge: text(params.max_age),
    reasons: prompt.reasons,
    problem,
  });
}

interface InteractionRequest {
  readonly provider: Provider;
  readonly uid: string;
  readonly action: "show" | "login" | "abort";
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
}

/** The consent prompt only shows for scopes a grant lacks; grant them, the clients are ours. */
async function grantConsent({ provider, req, res }: InteractionRequest, interaction: Interaction): Promise<void> {
  const accountId = interaction.session?.accountId;
  const clientId = interaction.params.client_id;
  if (accountId === undefined || typeof clientId !== "string") {
    send(res, 400, renderMessagePage("Sign-in error", "no signed-in account for this request"));
    return;
  }
  const existing = interaction.grantId === undefined ? undefined : await provider.Grant.find(interaction.grantId);
  const grant = existing ?? new provider.Grant({ accountId, clientId });
  const { missingOIDCScope, missingOIDCClaims } = interaction.prompt.details;
  if (Array.isArray(missingOIDCScope)) grant.addOIDCScope(missingOIDCScope.filter((s): s is string => typeof s === "string").join(" "));
  if (Array.isArray(missingOIDCClaims)) grant.addOIDCClaims(missingOIDCClaims.filter((c): c is string => typeof c === "string"));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

async function submitLogin(request: InteractionRequest, interaction: Interaction, accounts: readonly DevAccount[]): Promise<void> {
  const { provider, req, res } = request;
  const body = await readForm(req);
  const submission = body === undefined ? "send the form as application/x-www-form-urlencoded" : parseLoginSubmission(body, accounts);
  if (typeof submission === "string") {
    send(res, 400, loginPage(interaction, accounts, submission));
    return;
  }
  const { acr, amr } = DEV_STRENGTHS[submission.strength];
  // ts: this instant is the new auth_time, whatever the session held before.
  await provider.interactionFinished(
    req,
    res,
    {
      login: {
        accountId: submission.account,
        ...(acr === undefined ? {} : { acr }),
        ...(amr.length === 0 ? {} : { amr: [...amr] }),
        ts: Math.floor(Date.now() / 1000),
        remember: true,
      },
    },
    { mergeWithLastSubmission: false },
  );
}

async function handleInteraction(request: InteractionRequest, accounts: readonly DevAccount[]): Promise<void> {
  const { provider, req, res, uid, action } = request;
  const interaction = await provider.interactionDetails(req, res);
  // The cookie names the interaction; a URL naming another one is a stale or forged link.
  if (interaction.uid !== uid) {
    send(res, 400, renderMessagePage("Sign-in error", "this sign-in page does not belong to the sign-in in progress; start again"));
    return;
  }
  if (action === "abort") {
    await provider.interactionFinished(req, res, { error: "access_denied", error_description: "the user cancelled the sign-in" }, { mergeWithLastSubmission: false });
    return;
  }
  if (interaction.prompt.name === "consent") {
    await grantConsent(request, interaction);
    return;
  }
  if (interaction.prompt.name !== "login") {
    send(res, 501, renderMessagePage("Sign-in error", `unsupported prompt ${interaction.prompt.name}`));
    return;
  }
  if (action === "show") {
    send(res, 200, loginPage(interaction, accounts, undefined));
    return;
  }
  await submitLogin(request, interaction, accounts);
}

function interactionRoute(req: IncomingMessage): { uid: string; action: InteractionRequest["action"] } | undefined {
  const path = new URL(req.url ?? "/", "http://dev-provider.invalid").pathname;
  const match = INTERACTION_PATH.exec(path);
  if (match?.[1] === undefined) return undefined;
  const sub = match[2];
  if (sub === undefined) return req.method === "GET" ? { uid: match[1], action: "show" } : undefined;
  if (req.method !== "POST") return undefined;
  return { uid: match[1], action: sub === "login" ? "login" : "abort" };
}

// ---------------------------------------------------------------------------------------------

interface Instance {
  readonly provider: Provider;
  readonly listener: (req: IncomingMessage, res: ServerResponse) => void;
  readonly keys: readonly DevSigningKey[];
}

/**
 * Starts a development OpenID provider (the real `oidc-provider`) on its own loopback HTTP
 * server. Its sign-in page lets a person — or a test driving plain HTTP — pick an account and an
 * authentication strength: `password` (acr `urn:custos:acr:password`, amr `["pwd"]`) or `mfa`
 * (acr `urn:custos:acr:mfa`, amr `["pwd","otp"]`); see interaction-page.ts for the form fields.
 *
 * Clients are public (token_endpoint_auth_method `none`) with PKCE S256 required; id_tokens are
 * signed ES256 (or RS256) and always carry acr, amr and auth_time. `prompt=login`, `max_age`
 * (0 included) and unmet `acr_values` lead to a new login; consent is implied.
 *
 * `rotateKeys()` builds a new provider instance around a new signing key (oidc-provider fixes
 * its keystore at construction); sessions, grants and codes live in a store shared by every
 * instance, so a rotation does not sign anyone out.
 *
 * @throws {DevProviderRefused} `production` under NODE_ENV=production, `not_loopback` for a
 *   non-loopback host, `no_clients` / `no_accounts` for an empty configuration.
 */
export async function startDevProvider(options: DevProviderOptions): Promise<DevProvider> {
  const host = options.host ?? "127.0.0.1";
  checkStartable(options, host);
  // Loaded only here, so nothing outside `custos dev` and the tests ever loads oidc-provider.
  const oidc = await importOidcProvider();
  const settings: Settings = { options, alg: options.signingAlg ?? "ES256", store: createDevStore(), cookieKey: randomBytes(32).toString("base64url") };

  let current: Instance | undefined;
  const server = createServer((req, res) => {
    if (current === undefined) {
      send(res, 503, renderMessagePage("Starting", "the development provider is starting"));
      return;
    }
    const route = interactionRoute(req);
    if (route === undefined) {
      current.listener(req, res);
      return;
    }
    handleInteraction({ provider: current.provider, req, res, ...route }, options.accounts).catch((error: unknown) => {
      interactionFailed(oidc, res, error, options.onServerError);
    });
  });
  const port = await listen(server, host, options.port ?? 0);
  const issuer = originOf(host, port);
  const closeServer = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      current = undefined;
      settings.store.clear();
      server.closeAllConnections();
      server.close((error) => {
        if (error === undefined) resolve();
        else reject(error);
      });
    });

  const build = (keys: readonly DevSigningKey[]): Instance => {
    const provider = new oidc.Provider(issuer, providerConfiguration(oidc, settings, keys));
    const { onServerError } = options;
    if (onServerError !== undefined) provider.on("server_error", (_ctx, error) => { onServerError(error); });
    return { provider, listener: provider.callback(), keys };
  };
  try {
    current = build([newDevSigningKey(settings.alg)]);
  } catch (error) {
    // oidc-provider validates the client metadata here: do not leave the port bound behind.
    await closeServer();
    throw error;
  }

  const active = (): Instance => {
    if (current === undefined) throw new Error("the development provider is closed");
    return current;
  };

  return {
    issuer,
    url: issuer,
    get signingKid() {
      return active().keys[0]?.kid ?? "";
    },
    publishedKids: () => active().keys.map((key) => key.kid),
    rotateKeys(rotate: RotateKeysOptions = {}) {
      const previous = active().keys[0];
      const next = newDevSigningKey(settings.alg);
      // The signing key comes first: oidc-provider signs with the first key that fits the alg.
      current = build(rotate.keepPrevious === false || previous === undefined ? [next] : [next, previous]);
      return Promise.resolve(next.kid);
    },
    close: closeServer,
  };
}

function interactionFailed(oidc: OidcProviderModule, res: ServerResponse, error: unknown, onServerError: ((error: unknown) => void) | undefined): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (error instanceof oidc.errors.SessionNotFound) {
    // The interaction cookie is missing or the interaction expired: nothing to resume.
    send(res, 400, renderMessagePage("Sign-in expired", "this sign-in has expired or its cookie is missing; start again from the application"));
    return;
  }
  onServerError?.(error);
  send(res, 500, renderMessagePage("Sign-in error", "the development provider failed; see its log"));
}
