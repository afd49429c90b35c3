import type { RequestHandler } from "express";

/**
 * An API that hands out secrets: nothing is cached, framed, sniffed or given a referrer.
 * Routes that serve HTML (the sign-in pages) may loosen the CSP for themselves.
 */
export function securityHeaders(): RequestHandler {
  return (req, res, next) => {
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("X-Frame-Options", "DENY");
    res.setHeader("Referrer-Policy", "no-referrer");
    // connect-src 'self' lets a same-origin console or page call the API; no script can run.
    res.setHeader("Content-Security-Policy", "default-src 'none'; connect-src 'self'; frame-ancestors 'none'");
    res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
    res.setHeader("Cache-Control", "no-store");
    if (req.secure) res.setHeader("Strict-Transport-Security", "max-age=63072000; includeSubDomains");
    next();
  };
}
