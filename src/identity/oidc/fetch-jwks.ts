import type { JSONWebKeySet } from "jose";
import type { FetchJwks } from "./jwks-cache.ts";
import { providerUrl } from "./provider-url.ts";

export interface HttpJwksFetcherOptions {
  /** A provider that hangs must not hold requests for long. Default 5 s. */
  readonly timeoutMs?: number;
}

function isJwkSetDocument(value: unknown): value is JSONWebKeySet {
  if (typeof value !== "object" || value === null || !("keys" in value)) return false;
  const keys: unknown = value.keys;
  return Array.isArray(keys) && keys.every((key: unknown) => typeof key === "object" && key !== null);
}

/**
 * The production {@link FetchJwks}: one GET, no redirects (the URI came from discovery of a
 * pinned issuer; a redirect elsewhere is not the provider speaking), bounded in time. The
 * JWKS cache decides when it may be called.
 */
export function createHttpJwksFetcher(options: HttpJwksFetcherOptions = {}): FetchJwks {
  const timeoutMs = options.timeoutMs ?? 5000;
  return async (uri) => {
    const response = await fetch(providerUrl(uri), {
      headers: { accept: "application/jwk-set+json, application/json" },
      redirect: "error",
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) throw new Error(`JWKS fetch failed with HTTP ${response.status}`);
    const document: unknown = await response.json();
    if (!isJwkSetDocument(document)) throw new Error("JWKS document is not a JSON Web Key Set");
    return document;
  };
}
