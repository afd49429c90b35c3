import type { Request, Response } from "express";

/** The browser session's cookie (the backend-for-frontend session; see identity/sessions). */
export const SESSION_COOKIE = "custos_session";

/** The value of one cookie from the Cookie header; the last occurrence does not win, the first does. */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.get("cookie");
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const separator = part.indexOf("=");
    if (separator === -1) continue;
    if (part.slice(0, separator).trim() === name) return part.slice(separator + 1).trim();
  }
  return undefined;
}

export interface CookieOptions {
  readonly path: string;
  readonly maxAgeSeconds: number;
  readonly sameSite: "Lax" | "Strict";
  /** Secure even when this hop was plain HTTP: TLS ends at a proxy in front of Custos. */
  readonly secure?: boolean;
}

/** httpOnly always; Secure whenever the request arrived over TLS, or the public URL is https. */
export function setCookie(req: Request, res: Response, name: string, value: string, options: CookieOptions): void {
  const attributes = [`${name}=${value}`, `Path=${options.path}`, `Max-Age=${options.maxAgeSeconds}`, "HttpOnly", `SameSite=${options.sameSite}`];
  if (req.secure || options.secure === true) attributes.push("Secure");
  res.append("Set-Cookie", attributes.join("; "));
}

export function clearCookie(req: Request, res: Response, name: string, path: string, secure = false): void {
  setCookie(req, res, name, "", { path, maxAgeSeconds: 0, sameSite: "Lax", secure });
}
