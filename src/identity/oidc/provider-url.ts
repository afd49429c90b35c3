import { isIP } from "node:net";

/**
 * DESIGN.md, "Admin authentication": providers are reached over `https://`, except on loopback
 * addresses, which are accepted over plain HTTP for development and tests.
 */
const IPV4_LOOPBACK = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/**
 * `localhost`, the whole of 127.0.0.0/8 and ::1, as a URL's `hostname` spells them (IPv6 in
 * brackets) or as a socket reports them (bare, or IPv4-mapped: `::ffff:127.0.0.1`).
 */
export function isLoopbackHostname(hostname: string): boolean {
  const bare = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  if (bare.toLowerCase() === "localhost") return true;
  if (isIP(bare) === 4) return IPV4_LOOPBACK.test(bare);
  if (isIP(bare) !== 6) return false;
  const lower = bare.toLowerCase();
  if (lower.startsWith("::ffff:")) return IPV4_LOOPBACK.test(lower.slice("::ffff:".length));
  return lower === "::1" || lower === "0:0:0:0:0:0:0:1";
}

export function isLoopbackUrl(url: URL): boolean {
  return isLoopbackHostname(url.hostname);
}

/** The URL, when its scheme is acceptable for talking to a provider; throws otherwise. */
export function providerUrl(value: string): URL {
  const url = new URL(value);
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:" && isLoopbackUrl(url)) return url;
  throw new TypeError(`provider URL must use https (plain http only on loopback): ${url.origin}`);
}
