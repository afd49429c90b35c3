import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { grantIssuer } from "../access/issue-grant.ts";
import { isSecretName } from "../platform/names.ts";
import { EVENT_TYP, EVENT_TYPES, type EventType } from "../events/event-envelope.ts";
import { AgentRefusal } from "./agent-errors.ts";

/**
 * Verifying a signed event (the contract in docs/design.md, "Node agent"): a compact JWS,
 * protected header exactly `{alg: EdDSA, typ: custos-event+jwt, kid}`, claims `iss`, `aud`,
 * `jti`, `iat`, `exp`, `type`, `data`. Pure: the pinned keys, the node, the domain, the clock,
 * the leeway and the replay cache come in as inputs, and every check is its own named step
 * with its own code, in the order a reader of the envelope meets them.
 *
 * Why not jose's `jwtVerify`: it would accept any `typ` unless told, and folds several of
 * these refusals into one error class; the agent must say exactly why it refused, and a test
 * must fail when any one check is removed.
 */

/** Verification needs a bounded leeway: a node clock a little off is fine, hours are not. */
export const MAX_EVENT_LEEWAY_SECONDS = 300;
/** The longest lifetime the contract allows (EVENTS_TTL_SECONDS is at most 300). */
export const MAX_EVENT_LIFETIME_SECONDS = 300;

export type EventRefusalCode =
  | "event_malformed"
  | "event_alg_refused"
  | "event_typ_refused"
  | "event_unknown_key"
  | "event_signature_invalid"
  | "event_wrong_issuer"
  | "event_wrong_audience"
  | "event_not_yet_valid"
  | "event_stale"
  | "event_expired"
  | "event_replayed"
  | "event_unknown_type";

/** A refused envelope: the code is stable, the detail never holds the JWS or a claim value that could be one. */
export class EventRefused extends AgentRefusal<EventRefusalCode> {}

// One list of types and one typ for both ends of the contract: what the server signs is what the agent knows.
export { EVENT_TYP, EVENT_TYPES, type EventType } from "../events/event-envelope.ts";

/** A public event key as the domain JWKS publishes it (only `custos_use: "event"` ones are pinned). */
export interface EventPublicJwk {
  readonly kty: "OKP";
  readonly crv: "Ed25519";
  readonly x: string;
  readonly kid: string;
  readonly alg?: string;
  readonly use?: string;
  readonly custos_use: "event";
}

/** A key as the verifier is handed it: `custos_use` is checked, not assumed. */
export type CandidateJwk = Omit<EventPublicJwk, "custos_use"> & { readonly custos_use: string };

export type EventData =
  | { readonly type: "secret.updated"; readonly data: { readonly name: string; readonly version: number } }
  | { readonly type: "secret.revoked"; readonly data: { readonly name: string } }
  | { readonly type: "node.quarantined" | "node.released" | "nsk.rotate_requested"; readonly data: Record<string, never> }
  | { readonly type: "grant.issued"; readonly data: { readonly grant: string; readonly jti: string; readonly expires_at: string } }
  | { readonly type: "keys.rotated"; readonly data: { readonly keys: readonly EventPublicJwk[] } };

export type VerifiedEvent = EventData & {
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
  /** The pinned key that signed it. */
  readonly kid: string;
};

export interface EventVerificationContext {
  /** The pinned event keys; a key whose `custos_use` is not "event" is never used. */
  readonly keys: readonly CandidateJwk[];
  readonly domain: string;
  readonly nodeId: string;
  /** Epoch seconds. */
  readonly now: number;
  /** Clock tolerance, seconds, 0..MAX_EVENT_LEEWAY_SECONDS. */
  readonly leewaySeconds: number;
  /** Has this jti been seen (and not yet pruned, which happens only past its exp + leeway)? */
  readonly seen: (jti: string) => boolean;
}

const COMPACT_PART = /^[A-Za-z0-9_-]+$/;
const JTI = /^[A-Za-z0-9_-]{22}$/;
const HEADER_MEMBERS = ["alg", "kid", "typ"];
const CLAIM_MEMBERS = ["aud", "data", "exp", "iat", "iss", "jti", "type"];

function refuse(code: EventRefusalCode, detail: string): never {
  throw new EventRefused(code, detail);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function decodeJsonPart(part: string, what: string): Record<string, unknown> {
  const bytes = Buffer.from(part, "base64url");
  // base64url is not unique on its last character: refuse any spelling but the canonical one.
  if (bytes.toString("base64url") !== part) refuse("event_malformed", `the ${what} is not canonical base64url`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch {
    refuse("event_malformed", `the ${what} is not JSON`);
  }
  if (!isObject(parsed)) refuse("event_malformed", `the ${what} is not a JSON object`);
  return parsed;
}

function sameMembers(object: Record<string, unknown>, members: readonly string[]): boolean {
  const keys = Object.keys(object).sort();
  return keys.length === members.length && keys.every((key, index) => key === members[index]);
}

function isWholeSeconds(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** Is this one of the public event keys the contract describes (Ed25519, `custos_use: "event"`)? */
export function isEventPublicJwk(value: unknown): value is EventPublicJwk {
  if (!isObject(value)) return false;
  return value.kty === "OKP" && value.crv === "Ed25519" && typeof value.x === "string" && /^[A-Za-z0-9_-]{43}$/.test(value.x) &&
    typeof value.kid === "string" && value.kid.length > 0 && value.kid.length <= 128 && value.custos_use === "event" &&
    (value.alg === undefined || value.alg === "EdDSA") && !("d" in value);
}

function publicKeyOf(jwk: CandidateJwk): KeyObject {
  return createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: "jwk" });
}

/** The type's `data`, checked member by member; an unknown type is its own refusal. */
function eventData(type: unknown, data: unknown): EventData {
  if (typeof type !== "string" || !(EVENT_TYPES as readonly string[]).includes(type)) refuse("event_unknown_type", "the event type is not one this agent knows");
  if (!isObject(data)) refuse("event_malformed", "data is not an object");
  const malformed = (what: string): never => refuse("event_malformed", `${type} data: ${what}`);
  switch (type as EventType) {
    case "secret.updated": {
      if (!sameMembers(data, ["name", "version"])) malformed("exactly name and version");
      if (typeof data.name !== "string" || !isSecretName(data.name)) malformed("name is not a secret name");
      if (!isWholeSeconds(data.version) || data.version < 1) malformed("version is not a positive integer");
      return { type: "secret.updated", data: { name: data.name as string, version: data.version as number } };
    }
    case "secret.revoked":
      if (!sameMembers(data, ["name"])) malformed("exactly name");
      if (typeof data.name !== "string" || !isSecretName(data.name)) malformed("name is not a secret name");
      return { type: "secret.revoked", data: { name: data.name as string } };
    case "node.quarantined":
    case "node.released":
    case "nsk.rotate_requested":
      if (!sameMembers(data, [])) malformed("no members");
      return { type: type as "node.quarantined", data: {} };
    case "grant.issued":
      if (!sameMembers(data, ["expires_at", "grant", "jti"])) malformed("exactly grant, jti and expires_at");
      if (typeof data.grant !== "string" || typeof data.jti !== "string" || typeof data.expires_at !== "string" || Number.isNaN(Date.parse(data.expires_at))) {
        malformed("grant, jti and expires_at are strings (expires_at RFC 3339)");
      }
      return { type: "grant.issued", data: { grant: data.grant as string, jti: data.jti as string, expires_at: data.expires_at as string } };
    case "keys.rotated": {
      if (!sameMembers(data, ["keys"]) || !Array.isArray(data.keys) || data.keys.length === 0) malformed("exactly keys, a non-empty array");
      const keys = data.keys as unknown[];
      if (!keys.every(isEventPublicJwk)) malformed("every key is a public Ed25519 event key");
      return { type: "keys.rotated", data: { keys: keys as EventPublicJwk[] } };
    }
  }
}

/**
 * Verifies one envelope for this node. Throws EventRefused with the first check that fails:
 * event_malformed (not a compact JWS of JSON objects, extra or missing members),
 * event_alg_refused (anything but EdDSA, `none` included), event_typ_refused,
 * event_unknown_key (no pinned event key has the kid), event_signature_invalid,
 * event_wrong_issuer, event_wrong_audience, event_not_yet_valid (iat beyond the leeway in
 * the future), event_stale (iat older than the longest lifetime plus the leeway, or an exp
 * further than the longest lifetime from iat), event_expired (exp plus the leeway passed),
 * event_replayed (jti seen), event_unknown_type.
 */
export function verifyEventEnvelope(jws: string, context: EventVerificationContext): VerifiedEvent {
  if (!Number.isSafeInteger(context.leewaySeconds) || context.leewaySeconds < 0 || context.leewaySeconds > MAX_EVENT_LEEWAY_SECONDS) {
    throw new RangeError(`leeway must be 0..${String(MAX_EVENT_LEEWAY_SECONDS)} seconds`);
  }
  const parts = jws.split(".");
  const [headerPart, payloadPart, signaturePart] = parts;
  if (parts.length !== 3 || headerPart === undefined || payloadPart === undefined || signaturePart === undefined || !parts.every((part) => COMPACT_PART.test(part))) {
    refuse("event_malformed", "not a compact JWS of three base64url parts");
  }

  const header = decodeJsonPart(headerPart, "protected header");
  if (header.alg !== "EdDSA") refuse("event_alg_refused", "only EdDSA is accepted");
  if (header.typ !== EVENT_TYP) refuse("event_typ_refused", `the typ is not ${EVENT_TYP}`);
  if (!sameMembers(header, HEADER_MEMBERS) || typeof header.kid !== "string") refuse("event_malformed", "the protected header is exactly alg, typ and kid");

  const kid = header.kid;
  const jwk = context.keys.find((key) => key.kid === kid && key.custos_use === "event");
  if (jwk === undefined) refuse("event_unknown_key", "no pinned event key has this kid");
  const signature = Buffer.from(signaturePart, "base64url");
  if (signature.toString("base64url") !== signaturePart) refuse("event_malformed", "the signature is not canonical base64url");
  if (signature.length !== 64 || !verify(null, Buffer.from(`${headerPart}.${payloadPart}`, "ascii"), publicKeyOf(jwk), signature)) {
    refuse("event_signature_invalid", "the signature does not verify under the pinned key");
  }

  const claims = decodeJsonPart(payloadPart, "payload");
  if (!sameMembers(claims, CLAIM_MEMBERS)) refuse("event_malformed", "the claims are exactly iss, aud, jti, iat, exp, type and data");
  if (claims.iss !== grantIssuer(context.domain)) refuse("event_wrong_issuer", "iss is not this node's domain");
  if (claims.aud !== `node:${context.nodeId}`) refuse("event_wrong_audience", "aud is not this node");
  const { iat, exp, jti } = claims;
  if (!isWholeSeconds(iat) || !isWholeSeconds(exp) || exp <= iat) refuse("event_malformed", "iat and exp are whole epoch seconds, exp after iat");
  if (typeof jti !== "string" || !JTI.test(jti)) refuse("event_malformed", "jti is 22 base64url characters");
  const { now, leewaySeconds } = context;
  if (iat > now + leewaySeconds) refuse("event_not_yet_valid", "iat is in the future beyond the leeway");
  // A lifetime beyond the contract's bound would let an envelope outlive the replay cache's memory of it.
  if (exp - iat > MAX_EVENT_LIFETIME_SECONDS || iat < now - MAX_EVENT_LIFETIME_SECONDS - leewaySeconds) refuse("event_stale", "iat is older than the longest event lifetime allows");
  if (exp + leewaySeconds <= now) refuse("event_expired", "exp has passed");
  if (context.seen(jti)) refuse("event_replayed", "this jti was seen before");

  return { ...eventData(claims.type, claims.data), jti, iat, exp, kid };
}
