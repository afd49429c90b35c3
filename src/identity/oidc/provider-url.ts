import { isLoopbackUrl } from "../../platform/loopback.ts";

/**
 * The URL, when its scheme is acceptable for talking to a provider; throws otherwise.
 * DESIGN.md, "Admin authentication": providers are reached over `https://`, except on loopback
 * addresses, which are accepted over plain HTTP for development and tests.
 */
export function providerUrl(value: string): URL {
  const url = new URL(value);
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:" && isLoopbackUrl(url)) return url;
  throw new TypeError(`provider URL must use https (plain http only on loopback): ${url.origin}`);
}
