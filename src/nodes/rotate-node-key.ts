import type { AuditAppender } from "../audit/audit-port.ts";
import { auditActor, auditResource } from "../audit/audit-vocabulary.ts";
import type { DenialRecorder } from "../audit/denial-recorder.ts";
import type { KeyWrapper } from "../platform/key-wrapping/key-wrapper.ts";
import { CustosError } from "../platform/errors.ts";
import { issueNodeKey } from "./node-keys.ts";
import type { NodeKeyRecord, NodeRepository } from "./node-repo.ts";
import { checkRotationProof, ROTATION_NONCE_TTL_SECONDS, ROTATION_SKEW_SECONDS, sealNewNsk, type RotationRequest } from "./nsk-rotation.ts";
import type { WrapKeyCache } from "./wrap-key-cache.ts";

/** Why a rotation was refused, as its audit record says. */
export type RotationRefusalReason = "proof_missing" | "kid_superseded" | "proof_stale" | "proof_mismatch" | "nonce_replayed" | "rate_limited_node";

export interface RotationDependencies {
  readonly audit: AuditAppender;
  readonly denials: DenialRecorder;
  readonly nodes: Pick<NodeRepository, "consumeRotationNonce" | "rotateKey">;
  readonly wrapper: KeyWrapper;
  readonly wrapKeys: WrapKeyCache;
  /** Epoch seconds. */
  readonly now: () => number;
  /** How long a superseded NSK keeps working after a rotation. */
  readonly nskGraceSeconds: number;
}

/**
 * A 401 must carry a challenge (RFC 9110). The bearer was fine; what is missing is the proof
 * of the NSK, so the challenge names that scheme, the way DPoP (RFC 9449) names its proofs.
 */
function rotationProofInvalid(detail: string): CustosError {
  return new CustosError("rotation_proof_invalid", { detail });
}

function kidSuperseded(): CustosError {
  return new CustosError("kid_superseded", { detail: "this key was superseded by a rotation: only the node's current key may rotate" });
}

/** Audits a refused rotation (summarised per flood) and returns the error the client gets. */
export async function refuseRotation(
  deps: { readonly denials: Pick<DenialRecorder, "record"> },
  key: NodeKeyRecord,
  reason: RotationRefusalReason,
  requestId: string,
  error: CustosError,
): Promise<CustosError> {
  await deps.denials.record({
    chain: key.node.domain, actor: auditActor.node(key.nodeId), action: "node.rotate", resource: auditResource.node(key.nodeId), decision: "denied", reason,
    requestId, details: { kid: key.kid },
  });
  return error;
}

/**
 * Proof of the NSK itself, after the bearer: the key is current, the request is fresh, its
 * MAC is right and its nonce is new. Each refusal is audited before it is thrown.
 */
export async function proveRotation(
  deps: RotationDependencies,
  input: { readonly key: NodeKeyRecord; readonly request: RotationRequest | undefined; readonly requestId: string },
): Promise<void> {
  const { key, request, requestId } = input;
  const refuse = async (reason: RotationRefusalReason, error: CustosError): Promise<never> => {
    throw await refuseRotation(deps, key, reason, requestId, error);
  };
  if (request === undefined) return refuse("proof_missing", rotationProofInvalid("a rotation must prove the NSK: { timestamp, nonce, proof }"));
  if (key.retiresAt !== undefined) return refuse("kid_superseded", kidSuperseded());
  const failure = checkRotationProof(request, { wrapKey: await deps.wrapKeys.get(key), nodeId: key.nodeId, kid: key.kid, now: deps.now() });
  if (failure === "proof_stale") return refuse(failure, rotationProofInvalid(`timestamp must be within ${String(ROTATION_SKEW_SECONDS)} s of the server's clock`));
  if (failure === "proof_mismatch") return refuse(failure, rotationProofInvalid("the proof does not match this node's current key"));
  if (!(await deps.nodes.consumeRotationNonce(key.nodeId, request.nonce, deps.now() + ROTATION_NONCE_TTL_SECONDS))) {
    return refuse("nonce_replayed", rotationProofInvalid("this nonce was already used"));
  }
}

export interface RotatedNodeKey {
  readonly kid: string;
  readonly previousKid: string;
  /** Epoch seconds: the previous kid stops authenticating then. */
  readonly previousRetiresAt: number;
  /** The new NSK, only as a JWE under the current wrap key. */
  readonly jwe: string;
}

/**
 * POST /v1/nodes/{node_id}/nsk/rotate, once proved and within budget: audited, then
 * superseded — only if the key is still current when the change commits.
 */
export async function rotateNodeKey(deps: RotationDependencies, input: { readonly key: NodeKeyRecord; readonly requestId: string }): Promise<RotatedNodeKey> {
  const { key: current, requestId } = input;
  const nodeId = current.nodeId;
  const next = await issueNodeKey(deps.wrapper, nodeId);
  const jwe = await sealNewNsk(Buffer.from(next.nsk, "base64url"), await deps.wrapKeys.get(current), current.kid, next.kid);
  const graceEndsAt = deps.now() + deps.nskGraceSeconds;
  // The record commits before the keys change: if it cannot, the node keeps its key.
  await deps.audit.append({
    chain: current.node.domain, actor: auditActor.node(nodeId), action: "node.rotate", resource: auditResource.node(nodeId), decision: "granted",
    reason: "ok", requestId, details: { previous_kid: current.kid, kid: next.kid, previous_retires_at: graceEndsAt },
  });
  if (!(await deps.nodes.rotateKey(current.kid, next.record, graceEndsAt))) {
    // Another rotation by the same key committed first: the record above is followed by
    // this one, and the winner's key stays current.
    throw await refuseRotation(deps, current, "kid_superseded", requestId, kidSuperseded());
  }
  return { kid: next.kid, previousKid: current.kid, previousRetiresAt: graceEndsAt, jwe };
}
