import { randomBytes } from "node:crypto";
import { open, readFile, rename, unlink } from "node:fs/promises";
import path from "node:path";
import { InvalidArgumentError, type Command } from "commander";
import { newRotationRequestBody, openNewNsk, rotationPath } from "../identity/nodes/nsk-rotation.ts";
import { deriveBearerSecret, deriveWrapKey, formatNodeBearer, parseNsk } from "../identity/nodes/nsk.ts";
import { unwrapOnNode } from "../secrets/wrap-for-node.ts";
import { callApi, CommandRefused } from "./api-client.ts";

const NODE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const KID = /^[A-Za-z0-9_-]{8,64}$/;

function check(pattern: RegExp, what: string) {
  return (value: string): string => {
    if (!pattern.test(value)) throw new InvalidArgumentError(`not a valid ${what}`);
    return value;
  };
}

function baseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError("not a URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new InvalidArgumentError("must be an http(s) URL");
  return url.toString().replace(/\/$/, "");
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

/**
 * Replaces `file` so that a crash leaves either the old content or the new, never a torn
 * file: a temporary file in the same directory (so the rename stays on one filesystem),
 * created 0600 and exclusively, flushed to disk, renamed over the target, and the directory
 * flushed so the rename itself survives a power loss.
 */
async function writeFileAtomically(file: string, content: string): Promise<void> {
  const directory = path.dirname(path.resolve(file));
  const temporary = path.join(directory, `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temporary, "wx", 0o600);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temporary, file);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  const dir = await open(directory, "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export function registerNodeCommand(program: Command): void {
  const node = program.command("node").description("The node side: what a fleet machine runs");
  node
    .command("fetch")
    .description("Fetch a secret with this node's NSK, decrypt it and print the value to stdout")
    .requiredOption("--url <base>", "Custos base URL, e.g. https://custos.example", baseUrl)
    .requiredOption("--node-id <id>", "this node's id", check(NODE_ID, "node id (a lowercase UUID)"))
    .requiredOption("--kid <kid>", "the NSK's key id", check(KID, "kid"))
    .requiredOption("--nsk-file <file>", "file holding the NSK (base64url), readable only by this node")
    .argument("<name>", "the secret's name", check(SECRET_NAME, "secret name"))
    .action(async (name: string, options: { url: string; nodeId: string; kid: string; nskFile: string }) => {
      const nsk = await readNskFile(options.nskFile);
      const bearer = formatNodeBearer(options.kid, deriveBearerSecret(nsk));
      const { body: answer } = await callApi(options.url, "GET", `/v1/nodes/${options.nodeId}/secrets/${name}`, bearer);
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
    });
  node
    .command("rotate")
    .description("Replace this node's NSK, proving the current one; the new NSK replaces the file's content and its kid is printed")
    .requiredOption("--url <base>", "Custos base URL, e.g. https://custos.example", baseUrl)
    .requiredOption("--node-id <id>", "this node's id", check(NODE_ID, "node id (a lowercase UUID)"))
    .requiredOption("--kid <kid>", "the current NSK's key id", check(KID, "kid"))
    .requiredOption("--nsk-file <file>", "file holding the current NSK; rewritten atomically (0600) with the new one")
    .action(async (options: { url: string; nodeId: string; kid: string; nskFile: string }) => {
      const nsk = await readNskFile(options.nskFile);
      const wrapKey = deriveWrapKey(nsk);
      const bearer = formatNodeBearer(options.kid, deriveBearerSecret(nsk));
      const request = newRotationRequestBody(wrapKey, options.nodeId, options.kid, Math.floor(Date.now() / 1000));
      const { body: answer } = await callApi(options.url, "POST", rotationPath(options.nodeId), bearer, request);
      const body = (answer ?? {}) as { kid?: unknown; jwe?: unknown; previous_retires_at?: unknown };
      if (typeof body.kid !== "string" || !KID.test(body.kid) || typeof body.jwe !== "string") throw new CommandRefused("the answer holds no new kid and JWE");
      let next: Buffer;
      try {
        next = await openNewNsk(body.jwe, wrapKey, options.kid, body.kid);
      } catch {
        throw new CommandRefused("the new NSK could not be decrypted with the current one");
      }
      try {
        await writeFileAtomically(options.nskFile, `${next.toString("base64url")}\n`);
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
    });
}
