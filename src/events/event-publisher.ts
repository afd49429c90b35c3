import { createPublicKey, type KeyObject } from "node:crypto";
import { compactVerify } from "jose";
import type { SigningKeys } from "../access/signing-keys.ts";
import type { AuditAppender } from "../audit/audit-port.ts";
import { auditActor, auditResource } from "../audit/audit-vocabulary.ts";
import { EVENT_TYP, newEventJti, signEventEnvelope, type CustosEvent, type EventSigningKey, type SignedEnvelope } from "./event-envelope.ts";
import type { EventBus } from "./event-bus.ts";

export interface EventPublisherDependencies {
  /** The domains' event keys (custos_use "event"). */
  readonly keys: Pick<SigningKeys, "activeKey">;
  readonly audit: AuditAppender;
  readonly bus: Pick<EventBus, "publish">;
  /** EVENTS_TTL_SECONDS. */
  readonly ttlSeconds: number;
  /** Epoch seconds. */
  readonly now: () => number;
}

/** One event to some of a domain's nodes: one audit record, one envelope per node. */
export interface EventBatch {
  readonly domain: string;
  readonly event: CustosEvent;
  /** Node ids; an empty batch publishes (and audits) nothing. */
  readonly recipients: readonly string[];
  /** The request whose change the event announces: its audit records and this one share it. */
  readonly requestId: string;
  /** Another key than the domain's active one: keys.rotated is signed by the key it replaces. */
  readonly signWith?: EventSigningKey;
}

export interface PublishedBatch {
  readonly kid: string;
  readonly jtis: readonly string[];
}

/** Throws unless `envelope` is a custos event JWS that verifies under `key` (the publisher's own check). */
async function assertSignedBy(envelope: string, key: EventSigningKey, publicKey: KeyObject): Promise<SignedEnvelope> {
  const { protectedHeader } = await compactVerify(envelope, publicKey, { algorithms: ["EdDSA"] });
  if (protectedHeader.typ !== EVENT_TYP || protectedHeader.kid !== key.kid) throw new Error("refusing to publish an envelope that is not a signed custos event");
  return envelope as SignedEnvelope;
}

/**
 * The one way an event leaves Custos (docs/design.md, "The publish rule"): every envelope is
 * signed and checked against the key that signed it, then ONE audit record names the batch
 * (type, kid, each recipient's node id and jti), and only once it has committed are the
 * envelopes published. A refused audit publishes nothing (audit_unavailable is thrown). Called
 * after the change the event announces has committed; the caller decides what a failure means
 * (see the announcer: logged and counted, never undoing the change).
 */
export async function publishEvents(deps: EventPublisherDependencies, batch: EventBatch): Promise<PublishedBatch | undefined> {
  const { domain, event, recipients, requestId } = batch;
  if (recipients.length === 0) return undefined;
  const key = batch.signWith ?? (await deps.keys.activeKey(domain));
  const issuedAt = deps.now();
  // Derived once a batch: every envelope of it is checked against the same key.
  const publicKey = createPublicKey(key.privateKey);
  const signed = await Promise.all(
    recipients.map(async (nodeId) => {
      const jti = newEventJti();
      const envelope = await signEventEnvelope({ key, domain, nodeId, event, issuedAt, ttlSeconds: deps.ttlSeconds, jti });
      return { nodeId, jti, envelope: await assertSignedBy(envelope, key, publicKey) };
    }),
  );
  await deps.audit.append({
    chain: domain, actor: auditActor.custos, action: "event.publish", resource: auditResource.domain(domain), decision: "recorded", reason: "ok", requestId,
    details: { type: event.type, kid: key.kid, recipients: signed.map(({ nodeId, jti }) => ({ node_id: nodeId, jti })) },
  });
  await deps.bus.publish(signed.map(({ nodeId, envelope }) => ({ domain, nodeId, message: { kind: "event", envelope } })));
  return { kid: key.kid, jtis: signed.map(({ jti }) => jti) };
}
