import { allowInsecureRequests, discovery, None } from "openid-client";
import type { JwksUriFor } from "./jwks-cache.ts";
import { isLoopbackUrl } from "../../platform/loopback.ts";
import { providerUrl } from "./provider-url.ts";

/**
 * The issuer's `jwks_uri` from OpenID Connect Discovery (openid-client v6 `discovery()`, which
 * also checks that the document's `issuer` is the one asked for). The client id is irrelevant
 * to the metadata, and no client authentication is ever used on this path.
 *
 * Not cached here: the JWKS cache calls it only when it refreshes, which is rate-limited, and
 * asking again each time follows a provider that moves its `jwks_uri`.
 *
 * @throws {TypeError} when the issuer or its jwks_uri is not https (plain http only on loopback).
 */
export const discoverJwksUri: JwksUriFor = async (issuer) => {
  const server = providerUrl(issuer);
  const insecure = server.protocol === "http:";
  const configuration = await discovery(server, "custos", undefined, None(), {
    // Loopback only (providerUrl refused any other http URL). openid-client marks this
    // "deprecated" merely so that it stands out; it is the documented switch for local providers.
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    execute: insecure ? [allowInsecureRequests] : [],
  });
  const jwksUri = configuration.serverMetadata().jwks_uri;
  if (jwksUri === undefined) throw new TypeError(`issuer ${issuer} publishes no jwks_uri`);
  const url = providerUrl(jwksUri);
  // A loopback issuer may serve its keys over http; a public one never downgrades to it.
  if (url.protocol === "http:" && !(insecure && isLoopbackUrl(server))) throw new TypeError("jwks_uri must use https");
  return url.href;
};
