import { fetchNodeSecret, readNskFile, rotateNodeNsk } from "../agent/node-client.ts";
import { replaceFileAtomically } from "../platform/durable-files.ts";
import type { Refusal } from "./api-client.ts";

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

export async function runNodeFetch(name: string, options: { url: string; nodeId: string; kid: string; nskFile: string }): Promise<void> {
  const nsk = await readNskFile(options.nskFile);
  const { value, version } = await fetchNodeSecret({ ...options, nsk }, name, (refusal) => nodeRefusalHint(refusal, { ...options, name }));
  process.stdout.write(value);
  if (process.stdout.isTTY) process.stdout.write("\n");
  value.fill(0);
  console.error(`custos: ${name} version ${String(version)} fetched and decrypted`);
}

export async function runNodeRotate(options: { url: string; nodeId: string; kid: string; nskFile: string }): Promise<void> {
  const nsk = await readNskFile(options.nskFile);
  const rotated = await rotateNodeNsk(
    { ...options, nsk },
    (next) => replaceFileAtomically(options.nskFile, `${next.nsk.toString("base64url")}\n`),
    { now: Math.floor(Date.now() / 1000), hint: (refusal) => nodeRefusalHint(refusal, options), where: options.nskFile },
  );
  process.stdout.write(`${rotated.kid}\n`);
  console.error(`custos: NSK rotated; ${options.nskFile} holds kid ${rotated.kid}; kid ${options.kid} works until ${rotated.previousRetiresAt}`);
}
