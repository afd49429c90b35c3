import type { ErrorCode } from "../platform/errors.ts";

/** The one place where each stable error code gets its HTTP status and title. */
export const PROBLEM_CODES: Readonly<Record<ErrorCode, { readonly status: number; readonly title: string }>> = {
  malformed_body: { status: 400, title: "The request body is not valid JSON" },
  invalid_request: { status: 400, title: "The request is not valid" },
  invalid_name: { status: 400, title: "A name in the path is not valid" },
  invalid_token: { status: 401, title: "The credential is missing or not valid" },
  rotation_proof_invalid: { status: 401, title: "The request does not prove possession of the node's current NSK" },
  step_up_required: { status: 401, title: "A stronger or fresher authentication is required" },
  permission_denied: { status: 403, title: "Permission denied" },
  csrf_failed: { status: 403, title: "The request lacks this session's CSRF token" },
  node_mismatch: { status: 403, title: "The credential belongs to another node" },
  node_quarantined: { status: 403, title: "The node is quarantined" },
  kid_superseded: { status: 403, title: "This key has been superseded: only the node's current key may rotate" },
  not_found: { status: 404, title: "Not found" },
  node_decommissioned: { status: 409, title: "The node has been decommissioned: nothing can change it any more" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  payload_too_large: { status: 413, title: "The request body is too large" },
  uri_too_long: { status: 414, title: "The request target is too long" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  rate_limited: { status: 429, title: "Too many requests" },
  event_stream_limit: { status: 429, title: "The node already holds as many event streams as it may" },
  internal: { status: 500, title: "Internal error" },
  not_provisioned: { status: 501, title: "This capability is not provisioned" },
  store_unavailable: { status: 503, title: "The store is unavailable" },
  authz_unavailable: { status: 503, title: "The authorization service is unavailable" },
  audit_unavailable: { status: 503, title: "The audit log is unavailable" },
  provider_unavailable: { status: 503, title: "The domain's OpenID provider is unavailable" },
  secret_backend_unavailable: { status: 503, title: "The secret backend is unavailable" },
};

export const PROBLEM_TYPE_BASE = "https://custos.dev/problems/";
