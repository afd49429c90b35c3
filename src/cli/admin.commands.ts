import { open, readFile, rm } from "node:fs/promises";
import { InvalidArgumentError, type Command } from "commander";
import { isDomainId, NODE_ID_PATTERN } from "../platform/names.ts";
import { CommandRefused, CommandUsageError, callApi, type CallOptions } from "./api-client.ts";
import { registerDomainReadCommands, registerNodeAdminCommands, type ReadCommandContext } from "./read.commands.ts";
import { formatRecord, formatTable, printResult } from "./output.ts";

const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const NODE_NAME = /^[^\p{Cc}]{1,128}$/u;
const GRANT_ACTION = /^[a-z0-9._-]{1,64}$/;

export function domainArgument(value: string): string {
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

/** What every id_token command takes: where Custos is, and optionally a token file. */
export interface AdminOptions {
  readonly url: string;
  readonly idTokenFile?: string | undefined;
}

/**
 * The bearer of an admin command: `--id-token-file` when given (automation: presented as is, a
 * step-up challenge ends the command), else the `custos login` sign-in for (--url, domain),
 * which signs in again by itself when an action needs a stronger or fresher sign-in.
 */
export async function adminCredential(domain: string, options: AdminOptions): Promise<{ bearer: string; options: Pick<CallOptions, "onStepUp" | "credentialAdvice"> }> {
  if (options.idTokenFile !== undefined) return { bearer: await readTrimmed(options.idTokenFile, "id_token"), options: {} };
  const { storedCredential } = await import("./login.action.ts");
  const stored = await storedCredential(options.url, domain);
  return { bearer: stored.bearer, options: { onStepUp: stored.onStepUp, credentialAdvice: stored.renewAdvice } };
}

export const URL_OPTION = ["--url <base>", "Custos base URL", "http://127.0.0.1:8080"] as const;

/** `custos domain …` and `custos secret …`: administration through the HTTP API, as DESIGN.md says. */
export function registerAdminCommands(program: Command): void {
  const domain = program
    .command("domain")
    .description("Administer domains through the API: put and list with the operator token (CUSTOS_OPERATOR_TOKEN), show as the domain's admin or auditor");
  domain
    .command("put")
    .description("Create or replace a domain: its OpenID provider, admins and auditors")
    .argument("<domain>", "the domain id", domainArgument)
    .requiredOption("--issuer <url>", "the OpenID provider's issuer (https://, or http:// on loopback)")
    .requiredOption("--client-id <id>", "Custos's client id at that provider")
    .option("--admin <sub>", "an admin's sub at the provider (repeatable)", collect, [])
    .option("--auditor <sub>", "an auditor's sub at the provider (repeatable)", collect, [])
    .option(...URL_OPTION)
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

  const secret = program.command("secret").description("Administer secrets through the API (as signed in with `custos login`, or --id-token-file)");
  const withIdToken = (command: Command) =>
    command
      .option("--id-token-file <file>", "for automation: a file holding an id_token from the domain's provider, instead of the `custos login` sign-in")
      .option(...URL_OPTION);

  withIdToken(
    secret
      .command("put")
      .description("Write a secret's value (read from a file, never from the command line)")
      .argument("<domain>", "the domain id", domainArgument)
      .argument("<name>", "the secret's name", pattern(SECRET_NAME, "secret name"))
      .requiredOption("--value-file <file>", "the file holding the value"),
  ).action(async (id: string, name: string, options: { valueFile: string } & AdminOptions) => {
    const value = await readFile(options.valueFile, "utf8").catch((error: unknown) => {
      throw new CommandRefused(`cannot read the value file ${options.valueFile}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
    });
    const credential = await adminCredential(id, options);
    const { body } = await callApi(options.url, "PUT", `/v1/domains/${id}/secrets/${name}`, credential.bearer, { value }, {
      ...credential.options,
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
    ).action(async (id: string, name: string, nodeId: string, options: AdminOptions) => {
      const credential = await adminCredential(id, options);
      await callApi(options.url, method, `/v1/domains/${id}/secrets/${name}/readers/${nodeId}`, credential.bearer, undefined, {
        ...credential.options,
        hint: (refusal) =>
          refusal.code === "not_found"
            ? `check the secret name "${name}" (names are case-sensitive; \`custos secret put\` creates a secret) and the node id ${nodeId} in domain ${id}`
            : undefined,
      });
      console.error(`custos: ${verb === "grant" ? "granted" : "revoked"} ${nodeId} on ${id}/${name}`);
    });
  }

  registerSecretReads(secret, withIdToken);
  registerNodeEnroll(program, withIdToken);
  const context: ReadCommandContext = { withIdToken, domainArgument, adminCredential, operatorToken, urlOption: URL_OPTION };
  registerNodeAdminCommands(nodeFamily(program), context);
  registerDomainReadCommands(domain, context);
  registerGrant(program, withIdToken);
}

/** The `node` family the node side registers (node.command.ts), which the admin commands join. */
function nodeFamily(program: Command): Command {
  return program.commands.find((command) => command.name() === "node") ?? program.command("node");
}

/** `--json` and `--limit` of the read commands. */
interface ReadOptions extends AdminOptions {
  readonly json?: boolean;
  readonly limit?: number;
}

function pageLimit(value: string): number {
  if (!/^\d{1,3}$/.test(value) || Number(value) < 1 || Number(value) > 200) throw new InvalidArgumentError("a page size from 1 to 200");
  return Number(value);
}

/** A list route's page, as the API sends it. */
interface ListPage {
  readonly items: readonly unknown[];
  readonly next_cursor?: string;
}

function listPageOf(body: unknown): ListPage {
  const page = (body ?? {}) as { items?: unknown; next_cursor?: unknown };
  if (!Array.isArray(page.items)) throw new CommandRefused("the answer was not a page of items");
  return { items: page.items as unknown[], ...(typeof page.next_cursor === "string" ? { next_cursor: page.next_cursor } : {}) };
}

/** More pages than this is a server that keeps answering with a next page: stop rather than loop. */
const MAX_PAGES = 10_000;

/**
 * Every item of a list route, following next_cursor to the end; with `--limit N`, the first
 * page of N only, next_cursor included, as the API sent it.
 */
async function listAll(path: string, domain: string, options: ReadOptions, hint: CallOptions["hint"]): Promise<ListPage> {
  const credential = await adminCredential(domain, options);
  const call = async (query: URLSearchParams) => {
    const { body } = await callApi(options.url, "GET", `${path}?${query.toString()}`, credential.bearer, undefined, { ...credential.options, hint });
    return listPageOf(body);
  };
  if (options.limit !== undefined) return call(new URLSearchParams({ limit: String(options.limit) }));
  const items: unknown[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < MAX_PAGES; pages += 1) {
    const page = await call(new URLSearchParams({ limit: "200", ...(cursor === undefined ? {} : { cursor }) }));
    items.push(...page.items);
    if (page.next_cursor === undefined) return { items };
    cursor = page.next_cursor;
  }
  throw new CommandRefused(`${path} kept answering with a next page after ${String(MAX_PAGES)} pages`);
}

/** A field of an item from the API, for a table cell. */
function field(item: unknown, name: string): string | number | boolean | null | undefined {
  const value = (item as Record<string, unknown> | null)?.[name];
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean" || value === null ? value : undefined;
}

/** Epoch seconds as ISO 8601, for a person. */
function isoTime(value: unknown): string | undefined {
  return typeof value === "number" && Number.isFinite(value) ? new Date(value * 1000).toISOString() : undefined;
}

const withReadOptions = (command: Command, paged: boolean) => {
  command.option("--json", "print the API's JSON instead of a table");
  if (paged) command.option("--limit <n>", "one page of at most n items (1-200), with its next_cursor, instead of every item", pageLimit);
  return command;
};

function domainHint(domain: string, url: string): CallOptions["hint"] {
  return (refusal) => (refusal.status === 401 || refusal.status === 403 ? `the domain's admins and auditors may read it: check you signed in to "${domain}" at ${url}` : undefined);
}

/** `custos secret list|show|delete`: metadata (never a value) and the elevated deletion. */
function registerSecretReads(secret: Command, withIdToken: (command: Command) => Command): void {
  withIdToken(withReadOptions(
    secret
      .command("list")
      .description("List a domain's secrets: name, version, last write, number of readers (admin or auditor; never a value)")
      .argument("<domain>", "the domain id", domainArgument),
    true,
  )).action(async (id: string, options: ReadOptions) => {
    const page = await listAll(`/v1/domains/${id}/secrets`, id, options, domainHint(id, options.url));
    printResult(page, options, ({ items }) =>
      formatTable(items, [
        { header: "NAME", value: (item) => field(item, "name") },
        { header: "VERSION", value: (item) => field(item, "version") },
        { header: "UPDATED", value: (item) => field(item, "updated_at") },
        { header: "READERS", value: (item) => field(item, "reader_count") },
      ]) + (page.next_cursor === undefined ? "" : "\n(more secrets: without --limit every page is listed)"));
  });

  withIdToken(withReadOptions(
    secret
      .command("show")
      .description("Show a secret's metadata and the nodes that may read it (admin or auditor; never the value)")
      .argument("<domain>", "the domain id", domainArgument)
      .argument("<name>", "the secret's name", pattern(SECRET_NAME, "secret name")),
    false,
  )).action(async (id: string, name: string, options: ReadOptions) => {
    const credential = await adminCredential(id, options);
    const { body } = await callApi(options.url, "GET", `/v1/domains/${id}/secrets/${name}`, credential.bearer, undefined, {
      ...credential.options,
      hint: (refusal) => (refusal.code === "not_found" ? `no secret "${name}" in domain ${id} (names are case-sensitive; \`custos secret list ${id}\` lists them)` : domainHint(id, options.url)?.(refusal)),
    });
    printResult(body, options, (shown) => {
      const readers = (shown as { readers?: unknown } | null)?.readers;
      const rows: unknown[] = Array.isArray(readers) ? readers : [];
      return [
        formatRecord([["name", field(shown, "name")], ["version", field(shown, "version")], ["created", field(shown, "created_at")], ["updated", field(shown, "updated_at")], ["readers", rows.length]]),
        "",
        formatTable(rows, [{ header: "NODE", value: (reader) => field(reader, "node_id") }, { header: "NAME", value: (reader) => field(reader, "name") }]),
      ].join("\n");
    });
  });

  withIdToken(
    secret
      .command("delete")
      .description("Delete a secret: every version in the backend, its readers and its record (admin, step-up applies)")
      .argument("<domain>", "the domain id", domainArgument)
      .argument("<name>", "the secret's name", pattern(SECRET_NAME, "secret name")),
  ).action(async (id: string, name: string, options: AdminOptions) => {
    const credential = await adminCredential(id, options);
    await callApi(options.url, "DELETE", `/v1/domains/${id}/secrets/${name}`, credential.bearer, undefined, {
      ...credential.options,
      hint: (refusal) => (refusal.code === "not_found" ? `no secret "${name}" in domain ${id} (names are case-sensitive; \`custos secret list ${id}\` lists them)` : undefined),
    });
    console.error(`custos: deleted ${id}/${name}: every version, and its readers`);
  });
}

/**
 * The NSK file is created (0600, never over an existing file) before the node is enrolled: the
 * API shows the NSK once, so it must have somewhere to go before it is asked for.
 */
async function enrollInto(
  nskFile: string,
  enroll: () => Promise<{ node_id?: unknown; kid?: unknown; nsk?: unknown; event_key_thumbprint?: unknown }>,
): Promise<{ node_id: unknown; kid: unknown; event_key_thumbprint: unknown }> {
  const handle = await open(nskFile, "wx", 0o600).catch((error: unknown) => {
    throw new CommandRefused(`cannot create the NSK file ${nskFile}: ${(error as NodeJS.ErrnoException).code ?? "error"} (it must not exist yet)`);
  });
  try {
    const enrolled = await enroll();
    if (typeof enrolled.nsk !== "string") throw new CommandRefused("the enrollment answer carried no NSK");
    await handle.writeFile(`${enrolled.nsk}\n`);
    await handle.close();
    return { node_id: enrolled.node_id, kid: enrolled.kid, event_key_thumbprint: enrolled.event_key_thumbprint };
  } catch (error) {
    await handle.close();
    await rm(nskFile, { force: true });
    throw error;
  }
}

/** `custos node enroll`: added to the `node` family the node side registers (node.command.ts). */
function registerNodeEnroll(program: Command, withIdToken: (command: Command) => Command): void {
  const node = nodeFamily(program);
  withIdToken(
    node
      .command("enroll")
      .description(
        "Enroll a node in a domain (admin, step-up applies); its NSK goes to a new 0600 file, its id, kid and the domain's event key " +
          "thumbprint (what the node agent pins) to stdout",
      )
      .argument("<domain>", "the domain id", domainArgument)
      .argument("<name>", "the node's name", pattern(NODE_NAME, "node name (1-128 printable characters)"))
      .requiredOption("--nsk-file <file>", "the file to create with the node's NSK (must not exist)"),
  ).action(async (id: string, name: string, options: { nskFile: string } & AdminOptions) => {
    const credential = await adminCredential(id, options);
    const enrolled = await enrollInto(options.nskFile, async () => {
      const { body } = await callApi(options.url, "POST", `/v1/domains/${id}/nodes`, credential.bearer, { name }, credential.options);
      return body ?? {};
    });
    console.error(`custos: enrolled ${name} in ${id}; its NSK is in ${options.nskFile}; the domain's event key thumbprint is ${String(enrolled.event_key_thumbprint)}`);
    console.log(JSON.stringify({ ...enrolled, nsk_file: options.nskFile }));
  });
}

function ttlSeconds(value: string): number {
  if (!/^\d{1,4}$/.test(value)) throw new InvalidArgumentError("a whole number of seconds");
  return Number(value);
}

/** `custos grant`: a signed, short-lived grant for a node (admin, step-up applies). */
function registerGrant(program: Command, withIdToken: (command: Command) => Command): void {
  const grant = withIdToken(
    program
      .command("grant")
      .description("Issue a signed grant letting a node perform an action (admin, step-up applies); the grant goes to stdout")
      .argument("<domain>", "the domain id", domainArgument)
      .argument("<node-id>", "the node's id", pattern(NODE_ID_PATTERN, "node id (a lowercase UUID)"))
      .argument("<action>", "the action, e.g. ssh.login", pattern(GRANT_ACTION, "action (a-z, 0-9, '.', '_', '-')"))
      .option("--ttl <seconds>", "the grant's lifetime (at most 900)", ttlSeconds),
  );
  grant.action(async (id: string, nodeId: string, action: string, options: { ttl?: number } & AdminOptions) => {
    const credential = await adminCredential(id, options);
    const { body } = await callApi(
      options.url,
      "POST",
      `/v1/domains/${id}/grants`,
      credential.bearer,
      { node_id: nodeId, action, ...(options.ttl === undefined ? {} : { ttl_seconds: options.ttl }) },
      credential.options,
    );
    console.log(JSON.stringify(body));
  });
  registerGrantList(grant);
}

/**
 * `custos grant list <domain>`: the grants the domain issued, from its audit chain (admin or
 * auditor). A subcommand of `grant`, whose own `--url` and `--id-token-file` it uses: given
 * after `list`, commander hands them to `grant` first (options are not positional).
 */
function registerGrantList(grant: Command): void {
  withReadOptions(
    grant
      .command("list")
      .description("List the grants a domain issued: jti, node, action, who, issued, expires (admin or auditor; never a grant)")
      .argument("<domain>", "the domain id", domainArgument)
      .configureHelp({ showGlobalOptions: true }),
    true,
  ).action(async (id: string, _options: ReadOptions, command: Command) => {
    const options = command.optsWithGlobals<ReadOptions>();
    const page = await listAll(`/v1/domains/${id}/grants`, id, options, domainHint(id, options.url));
    printResult(page, options, ({ items }) =>
      formatTable(items, [
        { header: "JTI", value: (item) => field(item, "jti") },
        { header: "NODE", value: (item) => field(item, "node_id") },
        { header: "ACTION", value: (item) => field(item, "action") },
        { header: "ACTOR", value: (item) => field(item, "actor") },
        { header: "ISSUED", value: (item) => isoTime(field(item, "iat")) },
        { header: "EXPIRES", value: (item) => isoTime(field(item, "exp")) },
      ]));
  });
}
