/** One node's change, as the node verbs announce it. */
export interface NodeAnnouncement {
  readonly domain: string;
  readonly nodeId: string;
  readonly requestId: string;
}

/**
 * What the node verbs announce to the node itself, once their change has committed (the
 * events port: src/events implements it). Each call resolves whether or not the event went
 * out: a failed publish is logged and counted there and never undoes the change.
 */
export interface NodeEvents {
  /** `node.quarantined`; the node's open streams end once it is delivered. */
  nodeQuarantined(announcement: NodeAnnouncement): Promise<void>;
  /** `node.released`. */
  nodeReleased(announcement: NodeAnnouncement): Promise<void>;
  /** `nsk.rotate_requested`: an admin asks the node to rotate its NSK. */
  rotateRequested(announcement: NodeAnnouncement): Promise<void>;
  /** Ends the node's open streams (no event: a decommissioned node is never told anything again). */
  nodeDecommissioned(announcement: NodeAnnouncement): Promise<void>;
  /**
   * The RFC 7638 SHA-256 thumbprint of the domain's active event key, created on first use:
   * enrollment answers it so that an agent can pin the key. Throws like any store call.
   */
  eventKeyThumbprint(domain: string): Promise<string>;
}
