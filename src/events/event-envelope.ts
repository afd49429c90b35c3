import { randomBytes, type KeyObject } from "node:crypto";
import { SignJWT } from "jose";
import { grantIssuer } from "../access/issue-grant.ts";
import type { PublishedJwk } from "../access/signing-keys.ts";

/**
 * The signed-event envelope (docs/design.md, "Signed events"): a compact JWS with protected
 * header exactly `{ alg: "EdDSA", typ: "custos-event+jwt", kid }` and claims iss, aud, jti,
 * iat, exp, type, data. Pure: the clock, the jti and the key come in as values.
 */
export const EVENT_TYP = "custos-event+jwt";

/** Every event a node can receive, with its data. */
export type CustosEvent =
  | { readonly type: "secret.updated"; readonly data: { readonly name: string; readonly version: number } }
  | { readonly type: "secret.revoked"; readonly data: { readonly name: string } }
  | { readonly type: "node.quarantined"; readonly data: Readonly<Record<string, never>> }
  | { readonly type: "node.released"; readonly data: Readonly<Record<string, never>> }
  | { readonly type: "grant.issued"; readonly data: { readonly grant: string; readonly jti: string; readonly expires_at: string } }
  | { readonly type: "nsk.rotate_requested"; readonly data: Readonly<Record<string, never>> }
  | { readonly type: "keys.rotated"; readonly data: { readonly keys: readonly PublishedJwk[] } };

export type EventType = CustosEvent["type"];

export const EVENT_TYPES: readonly EventType[] = ["secret.updated", "secret.revoked", "node.quarantined", "node.released", "grant.issued", "nsk.rotate_requested", "keys.rotated"];

/** A key that signs events: its kid and private half (an event key of the domain). */
export interface EventSigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
}

/**
 * A compact JWS this process signed. The brand is what the bus accepts: nothing typed as a
 * plain string can be handed to it by mistake (the publisher also checks the signature).
 */
export type SignedEnvelope = string & { readonly __signedEnvelope: true };

export interface EnvelopeInput {
  readonly key: EventSigningKey;
  readonly domain: string;
  readonly nodeId: string;
  readonly event: CustosEvent;
  /** Epoch seconds. */
  readonly issuedAt: number;
  /** exp = iat + ttlSeconds. */
  readonly ttlSeconds: number;
  /** 128 random bits, base64url (22 characters): see newEventJti. */
  readonly jti: string;
}

/** 128 random bits as base64url: 22 characters. */
export function newEventJti(): string {
  return randomBytes(16).toString("base64url");
}

/** The audience of an event to a node: `node:<id>`, a single string. */
export function eventAudience(nodeId: string): string {
  return `node:${nodeId}`;
}

/** The issuer of a domain's events: the same string as its grants' (grantIssuer). */
export const eventIssuer = grantIssuer;

export async function signEventEnvelope(input: EnvelopeInput): Promise<SignedEnvelope> {
  const { key, event } = input;
  const jws = await new SignJWT({ type: event.type, data: event.data })
    .setProtectedHeader({ alg: "EdDSA", typ: EVENT_TYP, kid: key.kid })
    .setIssuer(eventIssuer(input.domain))
    .setAudience(eventAudience(input.nodeId))
    .setJti(input.jti)
    .setIssuedAt(input.issuedAt)
    .setExpirationTime(input.issuedAt + input.ttlSeconds)
    .sign(key.privateKey);
  return jws as SignedEnvelope;
}

/**
 * The `type` claim of an envelope this process signed, read without verifying: the stream
 * only needs to know whether it just delivered `node.quarantined` (and must then end).
 * Undefined for anything that is not a JWS with a string `type`.
 */
export function envelopeTypeOf(envelope: string): string | undefined {
  const payload = envelope.split(".")[1];
  if (payload === undefined) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    const type = typeof claims === "object" && claims !== null ? (claims as Record<string, unknown>).type : undefined;
    return typeof type === "string" ? type : undefined;
  } catch {
    return undefined;
  }
}
