import { readFile } from "node:fs/promises";
import { newRotationRequestBody, openNewNsk, rotationPath } from "../nodes/nsk-rotation.ts";
import { deriveBearerSecret, deriveWrapKey, formatNodeBearer, parseNsk } from "../nodes/nsk.ts";
import { unwrapOnNode } from "../secrets/wrap-for-node.ts";
import { callApi, CommandRefused, type Refusal } from "./api-client.ts";
import { KID } from "./node.command.ts";
import { replaceFileAtomically } from "../platform/durable-files.ts";

/**
 * What to check when Custos refuses a node's call. The server says as little as it can (an
 * unknown kid and a wrong NSK are the same 401; a missing secret and an ungranted one the same
 * 403), so the command says where the mistake usually is.
 */
export function nodeRefusalHint(refusal: Refusal, options: { nodeId: string; kid: string; nskFile: string; name?: string }): string | undefined {
  switch (refusal.code) {
    case "invalid_token":
      return `check --kid ${options.kid} and --nsk-file ${options.nskFile}: they must be the kid and the NSK this node was enrolled with ` +
        "(after `custos node rotate`, the kid it printed); a rotated-out kid stops working once its grace period ends";
    case "node_mismatch":
      return `check --node-id ${options.nodeId}: kid ${options.kid} belongs to another node`;
    case "permission_denied":
      return options.name === undefined ? undefined
        : `check the secret name "${options.name}" (names are case-sensitive) and that it has been granted to node ${options.nodeId} ` +
          "(`custos secret grant <domain> <name> <node-id>`)";
    case "not_found":
      return `check --node-id ${options.nodeId} and --url: no such node there`;
    default:
      return undefined;
  }
}

async function readNskFile(file: string): Promise<Buffer> {
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

export async function runNodeFetch(name: string, options: { url: string; nodeId: string; kid: string; nskFile: string }): Promise<void> {
  const nsk = await readNskFile(options.nskFile);
  const bearer = formatNodeBearer(options.kid, deriveBearerSecret(nsk));
  const { body: answer } = await callApi(options.url, "GET", `/v1/nodes/${options.nodeId}/secrets/${name}`, bearer, undefined, {
    hint: (refusal) => nodeRefusalHint(refusal, { ...options, name }),
  });
  const body = (answer ?? {}) as { jwe?: unknown; version?: unknown };
  if (typeof body.jwe !== "string") throw new CommandRefused("the answer holds no JWE");
  let value: Buffer;
  try {
    value = await unwrapOnNode(body.jwe, deriveWrapKey(nsk), options.kid);
  } catch {
    throw new CommandRefused("the secret could not be decrypted with this NSK");
  }
  process.stdout.write(value);
  if (process.stdout.isTTY) process.stdout.write("\n");
  console.error(`custos: ${name} version ${String(body.version)} fetched and decrypted`);
}

export async function runNodeRotate(options: { url: string; nodeId: string; kid: string; nskFile: string }): Promise<void> {
  const nsk = await readNskFile(options.nskFile);
  const wrapKey = deriveWrapKey(nsk);
  const bearer = formatNodeBearer(options.kid, deriveBearerSecret(nsk));
  const request = newRotationRequestBody(wrapKey, options.nodeId, options.kid, Math.floor(Date.now() / 1000));
  const { body: answer } = await callApi(options.url, "POST", rotationPath(options.nodeId), bearer, request, {
    hint: (refusal) => nodeRefusalHint(refusal, options),
  });
  const body = (answer ?? {}) as { kid?: unknown; jwe?: unknown; previous_retires_at?: unknown };
  if (typeof body.kid !== "string" || !KID.test(body.kid) || typeof body.jwe !== "string") throw new CommandRefused("the answer holds no new kid and JWE");
  let next: Buffer;
  try {
    next = await openNewNsk(body.jwe, wrapKey, options.kid, body.kid);
  } catch {
    throw new CommandRefused("the new NSK could not be decrypted with the current one");
  }
  try {
    await replaceFileAtomically(options.nskFile, `${next.toString("base64url")}\n`);
  } catch (error) {
    // Custos has rotated: the old key works only through its grace period, so say so loudly.
    throw new CommandRefused(
      `rotated to kid ${body.kid}, but the new NSK could not be written to ${options.nskFile} (${(error as NodeJS.ErrnoException).code ?? "error"}); ` +
        `the previous kid works until ${String(body.previous_retires_at)}: re-enroll the node before then`,
    );
  } finally {
    next.fill(0);
  }
  process.stdout.write(`${body.kid}\n`);
  console.error(`custos: NSK rotated; ${options.nskFile} holds kid ${body.kid}; kid ${options.kid} works until ${String(body.previous_retires_at)}`);
}
