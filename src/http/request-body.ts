import { CustosError } from "../platform/errors.ts";

/**
 * A request body that must be a JSON object with only the named members: anything else is
 * 400 invalid_request naming the strays, so a misspelt member is refused, not ignored.
 */
export function jsonObjectBody(body: unknown, members: readonly string[]): Record<string, unknown> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new CustosError("invalid_request", { detail: "the body must be a JSON object" });
  }
  const unknown = Object.keys(body).filter((key) => !members.includes(key));
  if (unknown.length > 0) throw new CustosError("invalid_request", { detail: `unknown member(s): ${unknown.join(", ")}` });
  return body as Record<string, unknown>;
}
