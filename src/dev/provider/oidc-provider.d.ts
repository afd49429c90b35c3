/**
 * The slice of `oidc-provider` v9 that the development provider uses. The package ships no
 * TypeScript declarations and `@types/oidc-provider` lags behind v9, so these are written from
 * the v9 sources (lib/provider.js, lib/helpers/interaction_policy, lib/models/grant.js) and
 * cover only what dev-provider.ts calls. Widen them here, never with `any` at the call site.
 */
declare module "oidc-provider" {
  import type { IncomingMessage, ServerResponse } from "node:http";

  export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue | undefined };
  export type AdapterPayload = Record<string, unknown>;

  /** The storage contract (docs: "Adapter"); one instance per model name. */
  export interface Adapter {
    upsert(id: string, payload: AdapterPayload, expiresIn: number | undefined): Promise<void>;
    find(id: string): Promise<AdapterPayload | undefined>;
    findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
    findByUid(uid: string): Promise<AdapterPayload | undefined>;
    consume(id: string): Promise<void>;
    destroy(id: string): Promise<void>;
    revokeByGrantId(grantId: string): Promise<void>;
  }
  export type AdapterFactory = (model: string) => Adapter;

  export interface OidcSession {
    readonly accountId: string | undefined;
    readonly acr: string | undefined;
    readonly amr: readonly string[] | undefined;
    /** auth_time of the current login, seconds since the epoch. */
    readonly loginTs: number | undefined;
    grantIdFor(clientId: string): string | undefined;
  }

  export interface OidcClient {
    readonly clientId: string;
  }

  export interface InteractionResults {
    login?: { accountId: string; acr?: string; amr?: string[]; ts?: number; remember?: boolean };
    consent?: { grantId?: string };
    error?: string;
    error_description?: string;
    [key: string]: unknown;
  }

  export interface KoaContextWithOidc {
    readonly oidc: {
      readonly provider: Provider;
      readonly session: OidcSession;
      readonly client: OidcClient | undefined;
      readonly params: Readonly<Record<string, unknown>> | undefined;
      readonly result: InteractionResults | undefined;
    };
  }

  export interface Account {
    accountId: string;
    claims(use: string, scope: string, claims: unknown, rejected: readonly string[]): Promise<Record<string, JsonValue>>;
  }

  export interface Grant {
    readonly jti: string | undefined;
    addOIDCScope(scope: string): void;
    addOIDCClaims(claims: readonly string[]): void;
    addResourceScope(resource: string, scope: string): void;
    save(): Promise<string>;
  }
  export interface GrantConstructor {
    new (properties: { accountId: string; clientId: string }): Grant;
    find(id: string): Promise<Grant | undefined>;
  }

  export interface PromptDetail {
    readonly name: string;
    readonly reasons: readonly string[];
    readonly details: Readonly<Record<string, unknown>>;
  }

  export interface Interaction {
    readonly uid: string;
    readonly prompt: PromptDetail;
    readonly params: Readonly<Record<string, unknown>>;
    readonly session: { readonly accountId?: string } | undefined;
    readonly grantId: string | undefined;
  }

  export interface ClientMetadata {
    client_id: string;
    redirect_uris: string[];
    token_endpoint_auth_method?: string;
    grant_types?: string[];
    response_types?: string[];
    id_token_signed_response_alg?: string;
    [key: string]: unknown;
  }

  export interface Configuration {
    adapter?: AdapterFactory;
    clients?: ClientMetadata[];
    jwks?: { keys: Record<string, unknown>[] };
    acrValues?: string[];
    claims?: Record<string, null | string[]>;
    scopes?: string[];
    cookies?: { keys?: string[]; long?: Record<string, unknown>; short?: Record<string, unknown> };
    features?: Record<string, { enabled: boolean; [key: string]: unknown }>;
    interactions?: { policy?: DefaultPolicy; url?: (ctx: KoaContextWithOidc, interaction: Interaction) => Promise<string> | string };
    findAccount?: (ctx: KoaContextWithOidc, sub: string, token: unknown) => Promise<Account | undefined>;
    loadExistingGrant?: (ctx: KoaContextWithOidc) => Promise<Grant | undefined>;
    renderError?: (ctx: { type: string; body: unknown }, out: Record<string, string>, error: unknown) => Promise<void>;
    clientBasedCORS?: (ctx: unknown, origin: string, client: unknown) => boolean;
    ttl?: Record<string, number>;
    clockTolerance?: number;
    [key: string]: unknown;
  }

  export class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    proxy: boolean;
    readonly Grant: GrantConstructor;
    /** Koa's request listener. */
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Interaction>;
    interactionFinished(req: IncomingMessage, res: ServerResponse, result: InteractionResults, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
    on(event: "server_error", listener: (ctx: unknown, error: Error) => void): this;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }

  export namespace interactionPolicy {
    type CheckResult = boolean;
    class Check {
      static readonly REQUEST_PROMPT: true;
      static readonly NO_NEED_TO_PROMPT: false;
      constructor(reason: string, description: string, check: (ctx: KoaContextWithOidc) => CheckResult | Promise<CheckResult>);
      readonly reason: string;
    }
    interface Checks extends Array<Check> {
      get(reason: string): Check | undefined;
      remove(reason: string): void;
      add(check: Check, index?: number): void;
    }
    interface Prompt {
      readonly name: string;
      readonly checks: Checks;
    }
    interface DefaultPolicy extends Array<Prompt> {
      get(name: string): Prompt | undefined;
    }
    function base(): DefaultPolicy;
  }
  export type DefaultPolicy = interactionPolicy.DefaultPolicy;

  export namespace errors {
    class OIDCProviderError extends Error {
      readonly error: string;
      readonly status: number;
    }
    class SessionNotFound extends OIDCProviderError {}
  }

  export default Provider;
}
