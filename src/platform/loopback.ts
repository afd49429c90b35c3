import { isIP } from "node:net";

/**
 * The one loopback check. Plain HTTP is accepted only on loopback (providers and issuers in
 * development and tests, the development provider's listen address, a server started without
 * TLS); all of them ask this, so they cannot disagree about what loopback is.
 */
const IPV4_LOOPBACK = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/**
 * `localhost`, the whole of 127.0.0.0/8 and ::1, as a URL's `hostname` spells them (IPv6 in
 * brackets) or as a socket reports them (bare, or IPv4-mapped: `::ffff:127.0.0.1`).
 */
export function isLoopbackHost(hostname: string): boolean {
  const bare = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  if (bare.toLowerCase() === "localhost") return true;
  if (isIP(bare) === 4) return IPV4_LOOPBACK.test(bare);
  if (isIP(bare) !== 6) return false;
  const lower = bare.toLowerCase();
  if (lower.startsWith("::ffff:")) return IPV4_LOOPBACK.test(lower.slice("::ffff:".length));
  return lower === "::1" || lower === "0:0:0:0:0:0:0:1";
}

export function isLoopbackUrl(url: URL): boolean {
  return isLoopbackHost(url.hostname);
}
