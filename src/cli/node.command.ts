import { InvalidArgumentError, type Command } from "commander";
import { DOMAIN_ID_PATTERN, KID_PATTERN as KID, NODE_ID_PATTERN } from "../platform/names.ts";

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

function leewaySeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d{1,3}$/.test(value) || seconds > 300) throw new InvalidArgumentError("must be 0 to 300 seconds");
  return seconds;
}

/** The options every node-side command takes: where Custos is and who this node is. */
function withNodeCredentials(command: Command, kidHelp: string, nskHelp: string): Command {
  return command
    .requiredOption("--url <base>", "Custos base URL, e.g. https://custos.example", baseUrl)
    .requiredOption("--node-id <id>", "this node's id", check(NODE_ID_PATTERN, "node id (a lowercase UUID)"))
    .requiredOption("--kid <kid>", kidHelp, check(KID, "kid"))
    .requiredOption("--nsk-file <file>", nskHelp);
}

/** Registration only: the NSK and JWE code (jose) is imported when a subcommand runs (node.action.ts). */
export function registerNodeCommand(program: Command): void {
  const node = program
    .command("node")
    .description("Nodes: what a fleet machine runs (fetch, rotate), and their administration through the API (enroll, list, show, quarantine, lift, decommission)");
  withNodeCredentials(
    node.command("fetch").description("Fetch a secret with this node's NSK, decrypt it and print the value to stdout"),
    "the NSK's key id",
    "file holding the NSK (base64url), readable only by this node",
  )
    .argument("<name>", "the secret's name", check(SECRET_NAME, "secret name"))
    .action(async (name: string, options: { url: string; nodeId: string; kid: string; nskFile: string }) => {
      const { runNodeFetch } = await import("./node.action.ts");
      await runNodeFetch(name, options);
    });
  withNodeCredentials(
    node.command("rotate").description("Replace this node's NSK, proving the current one; the new NSK replaces the file's content and its kid is printed"),
    "the current NSK's key id",
    "file holding the current NSK; rewritten atomically (0600) with the new one",
  )
    .action(async (options: { url: string; nodeId: string; kid: string; nskFile: string }) => {
      const { runNodeRotate } = await import("./node.action.ts");
      await runNodeRotate(options);
    });
  node
    .command("agent")
    .description("Keep this node's secrets on disk current: full sync, then follow its signed event stream (YAML config; see docs/operations.md)")
    .requiredOption("--config <file>", "the agent's YAML configuration")
    .option("--once", "full sync and exit (non-zero if any secret failed), for cron-like use")
    .option("--trust", "fetch the domain's event keys and pin them again, saying what changed, then run")
    .action(async (options: { config: string; once?: boolean; trust?: boolean }) => {
      const { runNodeAgent } = await import("./agent.action.ts");
      await runNodeAgent(options);
    });
  withNodeCredentials(
    node.command("watch").description("Print each verified event of this node's stream as a JSON line (stdout); refusals as JSON on stderr"),
    "the NSK's key id",
    "file holding the NSK (base64url)",
  )
    .requiredOption("--domain <domain>", "this node's domain (the events' issuer)", check(DOMAIN_ID_PATTERN, "domain id"))
    .option("--event-key-thumbprint <thumbprint>", "RFC 7638 thumbprint of the domain's event key (from enrollment)", check(/^[A-Za-z0-9_-]{43}$/, "thumbprint"))
    .option("--state-dir <dir>", "pin event keys here (the agent's state directory); without it they are pinned for this run only")
    .option("--leeway <seconds>", "clock leeway for iat/exp, 0-300", leewaySeconds, 30)
    .action(async (options: { url: string; domain: string; nodeId: string; kid: string; nskFile: string; eventKeyThumbprint?: string; stateDir?: string; leeway: number }) => {
      const { runNodeWatch } = await import("./agent.action.ts");
      await runNodeWatch(options);
    });
}
