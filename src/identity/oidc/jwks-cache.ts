import { createLocalJWKSet, errors, type CryptoKey, type FlattenedJWSInput, type JSONWebKeySet, type JWSHeaderParameters } from "jose";
import { IdTokenRejected, translateJoseError } from "./id-token.errors.ts";

/** Fetches the provider's JWKS document (adapter: HTTP; tests: an in-memory double). */
export type FetchJwks = (uri: string) => Promise<JSONWebKeySet>;

/** The issuer's `jwks_uri`, from discovery (see discovery.ts). */
export type JwksUriFor = (issuer: string) => Promise<string>;

/** A jose key resolver: the signature layer calls it with the token's protected header. */
export type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

export interface JwksCacheOptions {
  readonly fetchJwks: FetchJwks;
  readonly jwksUriFor: JwksUriFor;
  /** Seconds since the epoch (the codebase's clock unit). */
  readonly now: () => number;
  /**
   * Least time between two fetches for one issuer, counted from the start of the previous one
   * and whether or not it succeeded. Default 30 s.
   */
  readonly minRefreshIntervalSeconds?: number;
  /**
   * Age after which the next request refreshes the set even when its kid is known, so a key the
   * provider has withdrawn stops verifying without waiting for an unknown kid. Default 600 s.
   */
  readonly maxAgeSeconds?: number;
}

export interface JwksCache {
  /** The key resolver for one issuer; cheap, and all resolvers for an issuer share one cache. */
  resolverFor(issuer: string): KeyResolver;
}

export const DEFAULT_MIN_REFRESH_INTERVAL_SECONDS = 30;
export const DEFAULT_JWKS_MAX_AGE_SECONDS = 600;

type LocalJwks = ReturnType<typeof createLocalJWKSet>;

interface IssuerKeys {
  keys: LocalJwks | undefined;
  /** When `keys` was fetched. */
  fetchedAt: number;
  /** When the last fetch started, successful or not: the rate limit counts attempts. */
  attemptedAt: number | undefined;
  /** The fetch in flight, shared by every request that needs it. */
  refreshing: Promise<LocalJwks> | undefined;
}

/**
 * A per-issuer JWKS cache built on jose's `createLocalJWKSet`.
 *
 * Why not `createRemoteJWKSet`: its clock is `Date.now()` (no boundary is testable to the
 * second) and its cooldown starts only after a *successful* fetch, so a provider that is down
 * is asked again on every request carrying an unknown kid. Here:
 *
 * - a known kid never causes a network call (until `maxAgeSeconds`);
 * - an unknown kid causes at most one refresh for that request, then `kid_unknown`;
 * - fetches for an issuer start at most once per `minRefreshIntervalSeconds`, failed ones
 *   included, so a stream of made-up kids cannot hammer the provider;
 * - concurrent requests that need a refresh share one fetch;
 * - a successful refresh replaces the whole set, so a withdrawn key stops verifying.
 *
 * A failed refresh keeps the previous set: a provider outage must not lock every admin out,
 * and a key the provider withdraws is still dropped on the first refresh that succeeds.
 */
export function createJwksCache(options: JwksCacheOptions): JwksCache {
  const minInterval = options.minRefreshIntervalSeconds ?? DEFAULT_MIN_REFRESH_INTERVAL_SECONDS;
  const maxAge = options.maxAgeSeconds ?? DEFAULT_JWKS_MAX_AGE_SECONDS;
  const issuers = new Map<string, IssuerKeys>();

  const stateOf = (issuer: string): IssuerKeys => {
    let state = issuers.get(issuer);
    if (state === undefined) {
      state = { keys: undefined, fetchedAt: 0, attemptedAt: undefined, refreshing: undefined };
      issuers.set(issuer, state);
    }
    return state;
  };

  // Joining a fetch already in flight is always allowed: it costs the provider nothing.
  const mayRefresh = (state: IssuerKeys): boolean =>
    state.refreshing !== undefined || state.attemptedAt === undefined || options.now() - state.attemptedAt >= minInterval;

  const fetchKeys = async (issuer: string, state: IssuerKeys): Promise<LocalJwks> => {
    try {
      const uri = await options.jwksUriFor(issuer);
      // createLocalJWKSet validates the document's shape and snapshots it.
      const keys = createLocalJWKSet(await options.fetchJwks(uri));
      state.keys = keys;
      state.fetchedAt = options.now();
      return keys;
    } catch (cause) {
      throw new IdTokenRejected("jwks_unavailable", { cause });
    }
  };

  const refresh = (issuer: string, state: IssuerKeys): Promise<LocalJwks> => {
    if (state.refreshing !== undefined) return state.refreshing;
    state.attemptedAt = options.now();
    const pending = fetchKeys(issuer, state);
    state.refreshing = pending;
    // Cleared once settled (in a later microtask, so never before it was stored); `then` with
    // both handlers so this bookkeeping chain cannot raise an unhandled rejection.
    const settled = (): void => {
      if (state.refreshing === pending) state.refreshing = undefined;
    };
    void pending.then(settled, settled);
    return pending;
  };

  /** The set to try first, and whether obtaining it already cost this request a refresh. */
  const currentKeys = async (issuer: string, state: IssuerKeys): Promise<{ keys: LocalJwks; refreshed: boolean }> => {
    const cached = state.keys;
    if (cached === undefined) {
      if (!mayRefresh(state)) throw new IdTokenRejected("jwks_unavailable");
      return { keys: await refresh(issuer, state), refreshed: true };
    }
    if (options.now() - state.fetchedAt < maxAge || !mayRefresh(state)) return { keys: cached, refreshed: false };
    try {
      return { keys: await refresh(issuer, state), refreshed: true };
    } catch {
      // Stale but usable beats locking everyone out; the next interval retries.
      return { keys: cached, refreshed: true };
    }
  };

  return {
    resolverFor(issuer: string): KeyResolver {
      const state = stateOf(issuer);
      return async (header, token) => {
        const { keys, refreshed } = await currentKeys(issuer, state);
        try {
          return await keys(header, token);
        } catch (error) {
          if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
          if (refreshed || !mayRefresh(state)) throw translateJoseError(error);
        }
        // One refresh for an unknown kid (the provider may have rotated), then a final answer.
        const fresh = await refresh(issuer, state);
        try {
          return await fresh(header, token);
        } catch (error) {
          throw translateJoseError(error);
        }
      };
    },
  };
}
