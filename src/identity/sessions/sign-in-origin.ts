import { isIP } from "node:net";
import { withoutTrailing } from "../../platform/config.ts";
import { CustosError } from "../../platform/errors.ts";
import { isLoopbackHost } from "../../platform/loopback.ts";

/** What a request says about where it was sent; the Host header is the client's to choose. */
export interface RequestOrigin {
  /** `http` or `https`, as Express reports it. */
  readonly protocol: string;
  /** The Host header, verbatim (undefined when absent). */
  readonly host: string | undefined;
  /** The address of this server's end of the connection. */
  readonly localAddress: string | undefined;
}

function loopbackHost(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(`http://${host}`);
  } catch {
    return undefined;
  }
  // Rebuilt from the parsed host and port only: nothing else in the header reaches the URL.
  return isLoopbackHost(url.hostname) ? url.host : undefined;
}

/**
 * The URL browsers reach Custos at, from which the `redirect_uri` sent to the provider is
 * built. `CUSTOS_PUBLIC_URL` when configured. Without it the request is believed only on
 * loopback: its Host header names a loopback host and the connection really arrived on a
 * loopback address. Anywhere else the Host header is whatever the client (or a proxy) put
 * there, and a redirect_uri built from it would send codes wherever that names; sign-in is
 * refused until the operator says which URL is Custos's.
 */
export function publicBaseUrl(configured: string | undefined, origin: RequestOrigin): string {
  if (configured !== undefined) return withoutTrailing(configured, "/");
  const host = loopbackHost(origin.host);
  if (host === undefined || origin.localAddress === undefined || !isLoopbackHost(origin.localAddress)) {
    throw new CustosError("not_provisioned", {
      detail: "browser sign-in needs CUSTOS_PUBLIC_URL (the URL browsers reach Custos at) when Custos is not reached on loopback",
    });
  }
  return `${origin.protocol === "https" ? "https" : "http"}://${host}`;
}

/** Sixteen hexadecimal groups of an IPv6 address, `::` and an embedded IPv4 tail expanded. */
function ipv6Groups(address: string): string[] {
  let text = address.toLowerCase();
  const ipv4Tail = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (ipv4Tail !== null) {
    const [a, b, c, d] = ipv4Tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, ipv4Tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const zeros = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => "0");
  return [...left, ...zeros, ...right].map((group) => group.padStart(4, "0"));
}

/**
 * The bucket pending sign-ins are counted in for their source: the IPv4 address, or the /64
 * an IPv6 address belongs to (one subscriber usually holds a whole /64, so counting single
 * IPv6 addresses would bound nothing). IPv4-mapped IPv6 counts as the IPv4 address.
 */
export function loginSourceOf(address: string | undefined): string {
  if (address === undefined) return "unknown";
  if (isIP(address) === 4) return address;
  if (isIP(address) !== 6) return "unknown";
  const mapped = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i.exec(address);
  if (mapped?.[1] !== undefined) return mapped[1];
  return `${ipv6Groups(address).slice(0, 4).join(":")}::/64`;
}
