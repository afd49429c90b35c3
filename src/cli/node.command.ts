import { readFile } from "node:fs/promises";
import { InvalidArgumentError, type Command } from "commander";
import { deriveBearerSecret, deriveWrapKey, formatNodeBearer, parseNsk } from "../identity/nodes/nsk.ts";
import { unwrapOnNode } from "../secrets/wrap-for-node.ts";
import { callApi, CommandRefused } from "./api-client.ts";

const NODE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

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

export function registerNodeCommand(program: Command): void {
  const node = program.command("node").description("The node side: what a fleet machine runs");
  node
    .command("fetch")
    .description("Fetch a secret with this node's NSK, decrypt it and print the value to stdout")
    .requiredOption("--url <base>", "Custos base URL, e.g. https://custos.example", baseUrl)
    .requiredOption("--node-id <id>", "this node's id", check(NODE_ID, "node id (a lowercase UUID)"))
    .requiredOption("--kid <kid>", "the NSK's key id", check(/^[A-Za-z0-9_-]{8,64}$/, "kid"))
    .requiredOption("--nsk-file <file>", "file holding the NSK (base64url), readable only by this node")
    .argument("<name>", "the secret's name", check(SECRET_NAME, "secret name"))
    .action(async (name: string, options: { url: string; nodeId: string; kid: string; nskFile: string }) => {
      let nskText: string;
      try {
        nskText = await readFile(options.nskFile, "utf8");
      } catch (error) {
        throw new CommandRefused(`cannot read the NSK file ${options.nskFile}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
      }
      const nsk = parseNsk(nskText);
      if (nsk === undefined) throw new CommandRefused(`${options.nskFile} does not hold an NSK (43 base64url characters)`);
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
}

