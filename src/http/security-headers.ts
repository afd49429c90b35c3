import type { RequestHandler } from "express";

/** One year, subdomains included: the value a browser keeps once it has seen Custos over TLS. */
export const HSTS_VALUE = "max-age=31536000; includeSubDomains";

export interface SecurityHeaderOptions {
  /**
   * Custos is reached over https (CUSTOS_PUBLIC_URL): send HSTS on every answer, since behind
   * a TLS-terminating proxy the hop to Custos is plain HTTP and req.secure alone says nothing.
   */
  readonly httpsPublicUrl?: boolean;
}

/**
 * An API that hands out secrets: nothing is cached, framed, sniffed or given a referrer.
 * Routes that serve HTML (the sign-in pages) may loosen the CSP for themselves.
 */
export function securityHeaders(options: SecurityHeaderOptions = {}): RequestHandler {
  return (req, res, next) => {
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("X-Frame-Options", "DENY");
    res.setHeader("Referrer-Policy", "no-referrer");
    // connect-src 'self' lets a same-origin console or page call the API; no script can run.
    res.setHeader("Content-Security-Policy", "default-src 'none'; connect-src 'self'; frame-ancestors 'none'");
    res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
    res.setHeader("Cache-Control", "no-store");
    if (req.secure || options.httpsPublicUrl === true) res.setHeader("Strict-Transport-Security", HSTS_VALUE);
    next();
  };
}
