import { InvalidArgumentError, type Command } from "commander";
import { NODE_ID_PATTERN } from "../platform/names.ts";

const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const KID = /^[A-Za-z0-9_-]{8,64}$/;

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

/** Registration only: the NSK and JWE code (jose) is imported when a subcommand runs (node.action.ts). */
export function registerNodeCommand(program: Command): void {
  const node = program
    .command("node")
    .description("Nodes: what a fleet machine runs (fetch, rotate), and their administration through the API (enroll, list, show, quarantine, lift, decommission)");
  node
    .command("fetch")
    .description("Fetch a secret with this node's NSK, decrypt it and print the value to stdout")
    .requiredOption("--url <base>", "Custos base URL, e.g. https://custos.example", baseUrl)
    .requiredOption("--node-id <id>", "this node's id", check(NODE_ID_PATTERN, "node id (a lowercase UUID)"))
    .requiredOption("--kid <kid>", "the NSK's key id", check(KID, "kid"))
    .requiredOption("--nsk-file <file>", "file holding the NSK (base64url), readable only by this node")
    .argument("<name>", "the secret's name", check(SECRET_NAME, "secret name"))
    .action(async (name: string, options: { url: string; nodeId: string; kid: string; nskFile: string }) => {
      const { runNodeFetch } = await import("./node.action.ts");
      await runNodeFetch(name, options);
    });
  node
    .command("rotate")
    .description("Replace this node's NSK, proving the current one; the new NSK replaces the file's content and its kid is printed")
    .requiredOption("--url <base>", "Custos base URL, e.g. https://custos.example", baseUrl)
    .requiredOption("--node-id <id>", "this node's id", check(NODE_ID_PATTERN, "node id (a lowercase UUID)"))
    .requiredOption("--kid <kid>", "the current NSK's key id", check(KID, "kid"))
    .requiredOption("--nsk-file <file>", "file holding the current NSK; rewritten atomically (0600) with the new one")
    .action(async (options: { url: string; nodeId: string; kid: string; nskFile: string }) => {
      const { runNodeRotate } = await import("./node.action.ts");
      await runNodeRotate(options);
    });
}
