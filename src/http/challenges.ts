import type { Request } from "express";
import type { CustosError } from "../platform/errors.ts";
import { readCookie, SESSION_COOKIE } from "./cookies.ts";

/**
 * The `WWW-Authenticate` challenge of a refusal, built here from its code alone so that every
 * route spells the same refusal the same way (RFC 6750 §3, RFC 9470 §3, and Custos's own
 * proof-of-NSK scheme for key rotation). Refusals that are not about the credential have none.
 */
export function challengeFor(error: CustosError, req: Request): string | undefined {
  switch (error.code) {
    case "invalid_token":
      // RFC 6750 §3.1: a request that presented no credential at all gets no error code, only
      // the realm (its §3 example); a presented one that failed is DESIGN.md's exact spelling.
      return presentedCredential(req) ? bearerChallenge({ error: "invalid_token" }) : bearerChallenge({ realm: REALM });
    case "step_up_required":
      return bearerChallenge({
        error: "insufficient_user_authentication",
        error_description: error.detail,
        acr_values: stringsOf(error.extensions.acr_values)?.join(" "),
        max_age: typeof error.extensions.max_age === "number" ? String(error.extensions.max_age) : undefined,
      });
    case "rotation_proof_invalid":
      return `Custos-NSK-Proof ${parameters({ realm: REALM, error: "invalid_proof" })}`;
    default:
      return undefined;
  }
}

const REALM = "custos";

function bearerChallenge(values: Readonly<Record<string, string | undefined>>): string {
  return `Bearer ${parameters(values)}`;
}

function presentedCredential(req: Request): boolean {
  return req.get("authorization") !== undefined || readCookie(req, SESSION_COOKIE) !== undefined;
}

function stringsOf(value: unknown): readonly string[] | undefined {
  return Array.isArray(value) && value.every((each) => typeof each === "string") ? (value) : undefined;
}

function parameters(values: Readonly<Record<string, string | undefined>>): string {
  return Object.entries(values)
    .flatMap(([name, value]) => (value === undefined ? [] : [`${name}=${quoted(value)}`]))
    .join(", ");
}

/**
 * An HTTP quoted-string (RFC 9110 §5.6.4). Every value is validated long before it gets here
 * (policy load, fixed descriptions), so a control or non-ASCII character is a defect: refuse it
 * rather than emit a header a client would parse differently.
 */
export function quoted(value: string): string {
  if (!isChallengeSafe(value)) throw new TypeError("a WWW-Authenticate parameter must be printable ASCII");
  return `"${value.replace(/[\\"]/g, "\\$&")}"`;
}

export function isChallengeSafe(value: string): boolean {
  return /^[\x20-\x7E]*$/.test(value);
}
