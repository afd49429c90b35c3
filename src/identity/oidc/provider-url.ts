/**
 * DESIGN.md, "Admin authentication": providers are reached over `https://`, except on loopback
 * addresses, which are accepted over plain HTTP for development and tests.
 */
const LOOPBACK_HOSTNAMES = new Set(["127.0.0.1", "[::1]", "localhost"]);

export function isLoopbackUrl(url: URL): boolean {
  return LOOPBACK_HOSTNAMES.has(url.hostname);
}

/** The URL, when its scheme is acceptable for talking to a provider; throws otherwise. */
export function providerUrl(value: string): URL {
  const url = new URL(value);
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:" && isLoopbackUrl(url)) return url;
  throw new TypeError(`provider URL must use https (plain http only on loopback): ${url.origin}`);
}
