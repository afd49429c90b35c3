import { createHash, timingSafeEqual } from "node:crypto";

/**
 * The token of an `Authorization: Bearer <token>` header, or undefined for anything else.
 *
 * RFC 7235 makes the auth-scheme case-insensitive and RFC 6750 keeps it so: `bearer` and
 * `BEARER` name the same scheme. Every credential kind (operator token, node bearer, id_token)
 * is read through this one function so that the answer is the same everywhere. The token is
 * one or more visible ASCII characters after one or more spaces; each caller then checks the
 * shape of its own kind. A hand-written scan, no pattern: the header is client-chosen text.
 */
export function bearerTokenOf(header: string | undefined): string | undefined {
  const scheme = "bearer";
  if (header === undefined || header.length <= scheme.length + 1) return undefined;
  if (header.slice(0, scheme.length).toLowerCase() !== scheme || header.charAt(scheme.length) !== " ") return undefined;
  let start = scheme.length;
  while (header.charAt(start) === " ") start += 1;
  if (start === header.length) return undefined;
  for (let i = start; i < header.length; i += 1) {
    const code = header.charCodeAt(i);
    if (code < 0x21 || code > 0x7e) return undefined;
  }
  return header.slice(start);
}

function sha256(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/**
 * Whether two secrets (an operator token, a CSRF token, an OAuth state) are equal, in constant
 * time: both are hashed first, so timingSafeEqual always sees equal lengths and nothing about
 * the expected value's length leaks through timing. The one comparison of secrets in Custos.
 */
export function constantTimeEqual(expected: string, presented: string): boolean {
  return timingSafeEqual(sha256(expected), sha256(presented));
}
