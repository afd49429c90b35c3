import type { IssuedGrant } from "./issue-grant.ts";

/**
 * What grant issuance announces to the grant's node once the grant is signed (the events
 * port: src/events implements it). Resolves whether or not the event went out: a failed
 * publish is logged and counted there; the admin still has the grant in the answer.
 */
export interface GrantEvents {
  /** `grant.issued` with the grant JWS, its jti and expiry. */
  grantIssued(announcement: { readonly domain: string; readonly nodeId: string; readonly grant: IssuedGrant; readonly requestId: string }): Promise<void>;
}
