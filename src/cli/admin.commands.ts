import { readFile } from "node:fs/promises";
import { InvalidArgumentError, type Command } from "commander";
import { isDomainId, NODE_ID_PATTERN } from "../platform/names.ts";
import { CommandRefused, CommandUsageError, callApi } from "./api-client.ts";

const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function domainArgument(value: string): string {
  if (!isDomainId(value)) throw new InvalidArgumentError("a domain id (a-z, 0-9, '-', up to 63 characters, not 'platform')");
  return value;
}

function pattern(regex: RegExp, what: string) {
  return (value: string): string => {
    if (!regex.test(value)) throw new InvalidArgumentError(`not a valid ${what}`);
    return value;
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function readTrimmed(file: string, what: string): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (error) {
    throw new CommandRefused(`cannot read the ${what} file ${file}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

function operatorToken(): string {
  const token = process.env.CUSTOS_OPERATOR_TOKEN;
  if (token === undefined || token === "") {
    throw new CommandUsageError(
      "set CUSTOS_OPERATOR_TOKEN to the operator token of the Custos at --url; with custos dev running, it is the operator_token in .custos/dev.json: " +
        "CUSTOS_OPERATOR_TOKEN=\"$(jq -r .operator_token .custos/dev.json)\"",
    );
  }
  return token;
}

const urlOption = ["--url <base>", "Custos base URL", "http://127.0.0.1:8080"] as const;

/** `custos domain …` and `custos secret …`: administration through the HTTP API, as DESIGN.md says. */
export function registerAdminCommands(program: Command): void {
  const domain = program.command("domain").description("Administer domains through the API (operator token from CUSTOS_OPERATOR_TOKEN)");
  domain
    .command("put")
    .description("Create or replace a domain: its OpenID provider, admins and auditors")
    .argument("<domain>", "the domain id", domainArgument)
    .requiredOption("--issuer <url>", "the OpenID provider's issuer (https://, or http:// on loopback)")
    .requiredOption("--client-id <id>", "Custos's client id at that provider")
    .option("--admin <sub>", "an admin's sub at the provider (repeatable)", collect, [])
    .option("--auditor <sub>", "an auditor's sub at the provider (repeatable)", collect, [])
    .option(...urlOption)
    .action(async (id: string, options: { issuer: string; clientId: string; admin: string[]; auditor: string[]; url: string }) => {
      const { status, body } = await callApi(options.url, "PUT", `/v1/domains/${id}`, operatorToken(), {
        issuer: options.issuer,
        client_id: options.clientId,
        admins: options.admin,
        auditors: options.auditor,
      });
      console.error(`custos: domain ${id} ${status === 201 ? "created" : "replaced"}`);
      console.log(JSON.stringify(body));
    });

  const secret = program.command("secret").description("Administer secrets through the API (an admin's id_token from --id-token-file)");
  const withIdToken = (command: Command) =>
    command.requiredOption("--id-token-file <file>", "a file holding your id_token from the domain's provider (step-up applies)").option(...urlOption);

  withIdToken(
    secret
      .command("put")
      .description("Write a secret's value (read from a file, never from the command line)")
      .argument("<domain>", "the domain id", domainArgument)
      .argument("<name>", "the secret's name", pattern(SECRET_NAME, "secret name"))
      .requiredOption("--value-file <file>", "the file holding the value"),
  ).action(async (id: string, name: string, options: { valueFile: string; idTokenFile: string; url: string }) => {
    const value = await readFile(options.valueFile, "utf8").catch((error: unknown) => {
      throw new CommandRefused(`cannot read the value file ${options.valueFile}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
    });
    const { body } = await callApi(options.url, "PUT", `/v1/domains/${id}/secrets/${name}`, await readTrimmed(options.idTokenFile, "id_token"), { value }, {
      hint: (refusal) => (refusal.code === "not_found" ? `check the domain "${id}": no such domain at ${options.url}` : undefined),
    });
    console.log(JSON.stringify(body));
  });

  for (const [verb, method] of [["grant", "PUT"], ["revoke", "DELETE"]] as const) {
    withIdToken(
      secret
        .command(verb)
        .description(verb === "grant" ? "Let a node read a secret" : "Stop a node reading a secret (effective on its next read)")
        .argument("<domain>", "the domain id", domainArgument)
        .argument("<name>", "the secret's name", pattern(SECRET_NAME, "secret name"))
        .argument("<node-id>", "the node's id", pattern(NODE_ID_PATTERN, "node id (a lowercase UUID)")),
    ).action(async (id: string, name: string, nodeId: string, options: { idTokenFile: string; url: string }) => {
      await callApi(options.url, method, `/v1/domains/${id}/secrets/${name}/readers/${nodeId}`, await readTrimmed(options.idTokenFile, "id_token"), undefined, {
        hint: (refusal) =>
          refusal.code === "not_found"
            ? `check the secret name "${name}" (names are case-sensitive; \`custos secret put\` creates a secret) and the node id ${nodeId} in domain ${id}`
            : undefined,
      });
      console.error(`custos: ${verb === "grant" ? "granted" : "revoked"} ${nodeId} on ${id}/${name}`);
    });
  }
}
