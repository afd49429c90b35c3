import { createPublicKey } from "node:crypto";
import { calculateJwkThumbprint } from "jose";
import type { GrantEvents } from "../access/grant-events.ts";
import type { SigningKeys } from "../access/signing-keys.ts";
import type { NodeEvents } from "../nodes/node-events.ts";
import type { Logger } from "../platform/logging.ts";
import type { SecretEvents } from "../secrets/secret-events.ts";
import type { EventBus } from "./event-bus.ts";
import { publishEvents, type EventBatch, type EventPublisherDependencies } from "./event-publisher.ts";

/** Every capability's events port, in one object the composition root hands to each. */
export type EventAnnouncer = SecretEvents & NodeEvents & GrantEvents & {
  /** publishEvents, with a failure logged and counted instead of thrown (the publish rule). */
  announce(batch: EventBatch): Promise<void>;
};

export interface EventAnnouncerDependencies extends EventPublisherDependencies {
  readonly keys: SigningKeys;
  readonly bus: EventBus;
  readonly logger: Logger;
  /** Counts batches that did not go out (custos_event_publish_failures_total). */
  readonly onPublishFailed: (type: string) => void;
  /** Counts envelopes published (custos_events_published_total). */
  readonly onPublished: (type: string, count: number) => void;
}

/** RFC 7638 SHA-256 thumbprint (base64url) of the public half of an Ed25519 key. */
export async function eventKeyThumbprintOf(key: { readonly privateKey: Parameters<typeof createPublicKey>[0] }): Promise<string> {
  return calculateJwkThumbprint(createPublicKey(key.privateKey).export({ format: "jwk" }), "sha256");
}

/**
 * The publish rule (docs/design.md, "Signed events"): an event is published after the change
 * it announces has committed, and a publish that fails — its audit refused, the bus down — is
 * logged and counted, and does not undo the change: an agent fetches every secret again on
 * every reconnect, so a lost event costs latency, never correctness.
 */
export function createEventAnnouncer(deps: EventAnnouncerDependencies): EventAnnouncer {
  async function announce(batch: EventBatch): Promise<void> {
    try {
      const published = await publishEvents(deps, batch);
      if (published !== undefined) deps.onPublished(batch.event.type, published.jtis.length);
    } catch (error) {
      deps.onPublishFailed(batch.event.type);
      deps.logger.warn(
        { err: error, domain: batch.domain, type: batch.event.type, recipients: batch.recipients.length, requestId: batch.requestId },
        "an event was not published; the change it announces stands, and agents catch up when they reconnect",
      );
    }
  }
  const none = {} as const;
  return {
    announce,
    secretUpdated: ({ domain, name, version, nodeIds, requestId }) => announce({ domain, event: { type: "secret.updated", data: { name, version } }, recipients: nodeIds, requestId }),
    secretRevoked: ({ domain, name, nodeIds, requestId }) => announce({ domain, event: { type: "secret.revoked", data: { name } }, recipients: nodeIds, requestId }),
    nodeQuarantined: ({ domain, nodeId, requestId }) => announce({ domain, event: { type: "node.quarantined", data: none }, recipients: [nodeId], requestId }),
    nodeReleased: ({ domain, nodeId, requestId }) => announce({ domain, event: { type: "node.released", data: none }, recipients: [nodeId], requestId }),
    rotateRequested: ({ domain, nodeId, requestId }) => announce({ domain, event: { type: "nsk.rotate_requested", data: none }, recipients: [nodeId], requestId }),
    grantIssued: ({ domain, nodeId, grant, requestId }) => announce({ domain, event: { type: "grant.issued", data: grant }, recipients: [nodeId], requestId }),
    async nodeDecommissioned({ domain, nodeId, requestId }) {
      try {
        await deps.bus.publish([{ domain, nodeId, message: { kind: "end" } }]);
      } catch (error) {
        deps.onPublishFailed("end-streams");
        deps.logger.warn({ err: error, domain, requestId }, "a decommissioned node's open streams were not told to end; they end when its bearer is next checked");
      }
    },
    async eventKeyThumbprint(domain) {
      return eventKeyThumbprintOf(await deps.keys.activeKey(domain));
    },
  };
}
