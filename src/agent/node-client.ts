import { readFile } from "node:fs/promises";
import { callApi, CommandRefused, type Refusal } from "../cli/api-client.ts";
import { newRotationRequestBody, openNewNsk, rotationPath } from "../nodes/nsk-rotation.ts";
import { deriveBearerSecret, deriveWrapKey, formatNodeBearer, parseNsk } from "../nodes/nsk.ts";
import { KID_PATTERN } from "../platform/names.ts";
import { unwrapOnNode } from "../secrets/wrap-for-node.ts";

/**
 * What a node does against Custos with its NSK — read a secret, rotate the NSK — shared by
 * `custos node fetch`, `custos node rotate`, `custos node watch` and the agent. Refusals are
 * CommandRefused (from the API client) with the HTTP status and problem code; nothing here
 * logs or prints, and no message holds the NSK, the bearer or a secret.
 */

export interface NodeCredentials {
  readonly url: string;
  readonly nodeId: string;
  readonly kid: string;
  readonly nsk: Buffer;
}

/** Words added to a refusal (the CLI's hints); the agent passes none. */
export type RefusalHint = (refusal: Refusal) => string | undefined;

export function nodeBearerOf(node: Pick<NodeCredentials, "kid" | "nsk">): string {
  return formatNodeBearer(node.kid, deriveBearerSecret(node.nsk));
}

export async function readNskFile(file: string): Promise<Buffer> {
  let nskText: string;
  try {
    nskText = await readFile(file, "utf8");
  } catch (error) {
    throw new CommandRefused(`cannot read the NSK file ${file}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
  const nsk = parseNsk(nskText);
  if (nsk === undefined) throw new CommandRefused(`${file} does not hold an NSK (43 base64url characters)`);
  return nsk;
}

export interface FetchedSecret {
  readonly value: Buffer;
  readonly version: number | undefined;
}

/** GET /v1/nodes/{id}/secrets/{name}, opened with the node's wrap key. The caller zeroes `value`. */
export async function fetchNodeSecret(node: NodeCredentials, name: string, hint?: RefusalHint): Promise<FetchedSecret> {
  const { body: answer } = await callApi(node.url, "GET", `/v1/nodes/${node.nodeId}/secrets/${name}`, nodeBearerOf(node), undefined, hint === undefined ? {} : { hint });
  const body = (answer ?? {}) as { jwe?: unknown; version?: unknown };
  if (typeof body.jwe !== "string") throw new CommandRefused("the answer holds no JWE");
  let value: Buffer;
  try {
    value = await unwrapOnNode(body.jwe, deriveWrapKey(node.nsk), node.kid);
  } catch {
    throw new CommandRefused("the secret could not be decrypted with this NSK");
  }
  return { value, version: typeof body.version === "number" ? body.version : undefined };
}

export interface RotatedNsk {
  readonly kid: string;
  readonly previousKid: string;
  readonly previousRetiresAt: string;
}

/**
 * Rotates the NSK with proof of possession (docs/nsk-rotation.md) and hands the new key to
 * `store`, which must make it durable (the NSK file, and for the agent its state) before it
 * returns; the new key is zeroed afterwards. A store that fails after Custos has rotated is
 * said loudly: the previous kid works only through its grace period.
 */
export async function rotateNodeNsk(
  node: NodeCredentials,
  store: (next: { readonly kid: string; readonly nsk: Buffer }) => Promise<void>,
  options: { readonly now: number; readonly hint?: RefusalHint; readonly where: string },
): Promise<RotatedNsk> {
  const wrapKey = deriveWrapKey(node.nsk);
  const request = newRotationRequestBody(wrapKey, node.nodeId, node.kid, options.now);
  const { body: answer } = await callApi(node.url, "POST", rotationPath(node.nodeId), nodeBearerOf(node), request, options.hint === undefined ? {} : { hint: options.hint });
  const body = (answer ?? {}) as { kid?: unknown; jwe?: unknown; previous_retires_at?: unknown };
  if (typeof body.kid !== "string" || !KID_PATTERN.test(body.kid) || typeof body.jwe !== "string") throw new CommandRefused("the answer holds no new kid and JWE");
  const kid = body.kid;
  let next: Buffer;
  try {
    next = await openNewNsk(body.jwe, wrapKey, node.kid, kid);
  } catch {
    throw new CommandRefused("the new NSK could not be decrypted with the current one");
  }
  const previousRetiresAt = String(body.previous_retires_at);
  try {
    await store({ kid, nsk: next });
  } catch (error) {
    // Custos has rotated: the old key works only through its grace period, so say so loudly.
    throw new CommandRefused(
      `rotated to kid ${kid}, but the new NSK could not be written to ${options.where} (${(error as NodeJS.ErrnoException).code ?? "error"}); ` +
        `the previous kid works until ${previousRetiresAt}: re-enroll the node before then`,
    );
  } finally {
    next.fill(0);
  }
  return { kid, previousKid: node.kid, previousRetiresAt };
}
