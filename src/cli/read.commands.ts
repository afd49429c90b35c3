import { InvalidArgumentError, type Command } from "commander";
import { NODE_ID_PATTERN } from "../platform/names.ts";
import { callApi, CommandRefused, type CallOptions } from "./api-client.ts";
import { formatRecord, formatTable, printResult } from "./output.ts";

/**
 * `custos node list|show|quarantine|lift|decommission` and `custos domain list|show`: the read
 * APIs and the node admin verbs from the command line. A table by default, `--json` for the
 * API's own JSON. Registered beside `node enroll` and `domain put` (admin.commands.ts), with
 * the same credentials: the `custos login` sign-in (or --id-token-file) for a domain's
 * commands, CUSTOS_OPERATOR_TOKEN for `domain list`.
 */

/** Credentials and base URL, as admin.commands.ts resolves them. */
export interface ReadCommandContext {
  readonly withIdToken: (command: Command) => Command;
  readonly domainArgument: (value: string) => string;
  readonly adminCredential: (domain: string, options: { url: string; idTokenFile?: string | undefined }) => Promise<{ bearer: string; options: Pick<CallOptions, "onStepUp" | "credentialAdvice"> }>;
  readonly operatorToken: () => string;
  readonly urlOption: readonly [string, string, string];
}

interface NodeKey {
  readonly kid: string;
  readonly created_at: string;
  readonly retires_at: string | null;
}
interface NodeDocument {
  readonly node_id: string;
  readonly name: string;
  readonly state: string;
  readonly current_kid: string | null;
  readonly keys: readonly NodeKey[];
  readonly enrolled_at: string;
  readonly last_read_at: string | null;
  readonly decommissioned_at: string | null;
}
interface DomainDocument {
  readonly domain: string;
  readonly issuer: string;
  readonly client_id: string;
  readonly created_at: string;
  readonly updated_at: string;
  readonly admins?: readonly string[];
  readonly auditors?: readonly string[];
  readonly counts?: { readonly nodes: number; readonly secrets: number };
}
interface PageDocument<Item> {
  readonly items: readonly Item[];
  readonly next_cursor?: string;
}

/** The largest page the API serves (src/http/paging.ts MAX_PAGE_SIZE): following cursors to the end asks for these. */
const FOLLOW_PAGE_SIZE = 200;
/** However many pages a list follows; far beyond any real fleet, it only stops a server that never ends a list. */
const MAX_PAGES = 10_000;

function pageSize(value: string): number {
  if (!/^\d{1,3}$/.test(value) || Number(value) < 1 || Number(value) > FOLLOW_PAGE_SIZE) throw new InvalidArgumentError(`a whole number from 1 to ${String(FOLLOW_PAGE_SIZE)}`);
  return Number(value);
}

function cursorArgument(value: string): string {
  if (!/^[A-Za-z0-9_-]{1,512}$/.test(value)) throw new InvalidArgumentError("a next_cursor printed by an earlier page");
  return value;
}

function nodeIdArgument(value: string): string {
  if (!NODE_ID_PATTERN.test(value)) throw new InvalidArgumentError("not a valid node id (a lowercase UUID)");
  return value;
}

function isPage<Item>(body: unknown): body is PageDocument<Item> {
  return typeof body === "object" && body !== null && Array.isArray((body as { items?: unknown }).items);
}

interface ListOptions {
  readonly limit?: number | undefined;
  readonly cursor?: string | undefined;
  readonly json?: boolean | undefined;
}

/**
 * One page when --limit is given (its next_cursor said on stderr, or in the JSON), else every
 * page, following next_cursor to the end; the whole list is then one `{ items }` document.
 */
async function listAll<Item>(options: ListOptions, fetchPage: (query: string) => Promise<unknown>): Promise<PageDocument<Item>> {
  const query = (limit: number, cursor: string | undefined) => `?limit=${String(limit)}${cursor === undefined ? "" : `&cursor=${cursor}`}`;
  if (options.limit !== undefined) {
    const body = await fetchPage(query(options.limit, options.cursor));
    if (!isPage<Item>(body)) throw new CommandRefused("the answer is not a page of items");
    if (body.next_cursor !== undefined && options.json !== true) console.error(`custos: more follow; the next page: --cursor ${body.next_cursor}`);
    return body;
  }
  const items: Item[] = [];
  let cursor = options.cursor;
  for (let pages = 0; pages < MAX_PAGES; pages++) {
    const body = await fetchPage(query(FOLLOW_PAGE_SIZE, cursor));
    if (!isPage<Item>(body)) throw new CommandRefused("the answer is not a page of items");
    items.push(...body.items);
    if (body.next_cursor === undefined) return { items };
    cursor = body.next_cursor;
  }
  throw new CommandRefused(`the list did not end after ${String(MAX_PAGES)} pages`);
}

const NODE_COLUMNS = [
  { header: "NODE ID", value: (node: NodeDocument) => node.node_id },
  { header: "NAME", value: (node: NodeDocument) => node.name },
  { header: "STATE", value: (node: NodeDocument) => node.state },
  { header: "CURRENT KID", value: (node: NodeDocument) => node.current_kid },
  { header: "ENROLLED", value: (node: NodeDocument) => node.enrolled_at },
  { header: "LAST READ", value: (node: NodeDocument) => node.last_read_at },
] as const;

function nodeText(node: NodeDocument): string {
  const record = formatRecord([
    ["node id", node.node_id],
    ["name", node.name],
    ["state", node.state],
    ["current kid", node.current_kid],
    ["enrolled", node.enrolled_at],
    ["last read", node.last_read_at],
    ["decommissioned", node.decommissioned_at],
  ]);
  const keys = formatTable(node.keys, [
    { header: "KID", value: (key: NodeKey) => key.kid },
    { header: "CREATED", value: (key: NodeKey) => key.created_at },
    { header: "RETIRES", value: (key: NodeKey) => key.retires_at },
  ]);
  return `${record}\n\nkeys (newest first):\n${keys}`;
}

const DOMAIN_COLUMNS = [
  { header: "DOMAIN", value: (domain: DomainDocument) => domain.domain },
  { header: "ISSUER", value: (domain: DomainDocument) => domain.issuer },
  { header: "CLIENT ID", value: (domain: DomainDocument) => domain.client_id },
  { header: "CREATED", value: (domain: DomainDocument) => domain.created_at },
  { header: "UPDATED", value: (domain: DomainDocument) => domain.updated_at },
] as const;

function domainText(domain: DomainDocument): string {
  return formatRecord([
    ["domain", domain.domain],
    ["issuer", domain.issuer],
    ["client id", domain.client_id],
    ["admins", domain.admins?.join(", ")],
    ["auditors", domain.auditors?.join(", ")],
    ["nodes", domain.counts?.nodes],
    ["secrets", domain.counts?.secrets],
    ["created", domain.created_at],
    ["updated", domain.updated_at],
  ]);
}

const JSON_OPTION = ["--json", "print the API's JSON instead of a table"] as const;
const LIMIT_OPTION = ["--limit <n>", `one page of at most n (1-${String(FOLLOW_PAGE_SIZE)}) instead of the whole list`, pageSize] as const;
const CURSOR_OPTION = ["--cursor <cursor>", "start after this next_cursor of an earlier page", cursorArgument] as const;

/** `custos node list|show|quarantine|lift|decommission`, added to the `node` family. */
export function registerNodeAdminCommands(node: Command, context: ReadCommandContext): void {
  const { withIdToken, domainArgument, adminCredential } = context;
  const notFound = (domain: string, nodeId: string, url: string) => (refusal: { code: string | undefined }) =>
    refusal.code === "not_found" ? `check the node id ${nodeId} (\`custos node list ${domain}\`) and the domain at ${url}` : undefined;

  withIdToken(
    node
      .command("list")
      .description("List a domain's nodes: state, current kid, enrolled, last secret read (the domain's admins and auditors)")
      .argument("<domain>", "the domain id", domainArgument)
      .option(...LIMIT_OPTION)
      .option(...CURSOR_OPTION)
      .option(...JSON_OPTION),
  ).action(async (domain: string, options: ListOptions & { url: string; idTokenFile?: string }) => {
    const credential = await adminCredential(domain, options);
    const page = await listAll<NodeDocument>(options, async (query) =>
      (await callApi(options.url, "GET", `/v1/domains/${domain}/nodes${query}`, credential.bearer, undefined, credential.options)).body);
    printResult(page, options, (body) => formatTable(body.items, NODE_COLUMNS));
  });

  withIdToken(
    node
      .command("show")
      .description("Show one node: its state, its keys' ages (never key material), enrolled, last secret read")
      .argument("<domain>", "the domain id", domainArgument)
      .argument("<node-id>", "the node's id", nodeIdArgument)
      .option(...JSON_OPTION),
  ).action(async (domain: string, nodeId: string, options: { json?: boolean; url: string; idTokenFile?: string }) => {
    const credential = await adminCredential(domain, options);
    const { body } = await callApi(options.url, "GET", `/v1/domains/${domain}/nodes/${nodeId}`, credential.bearer, undefined, {
      ...credential.options, hint: notFound(domain, nodeId, options.url),
    });
    printResult(body as NodeDocument, options, nodeText);
  });

  const changes = [
    ["quarantine", "POST", `/quarantine`, "Quarantine a node: every call it makes is refused until lifted (admin, step-up applies)", "quarantined"],
    ["lift", "DELETE", `/quarantine`, "Lift a node's quarantine (admin, step-up applies)", "lifted the quarantine of"],
    ["decommission", "DELETE", "", "Decommission a node for good: its keys stop working now and its grants go (admin, step-up applies; repeating it is harmless)", "decommissioned"],
  ] as const;
  for (const [verb, method, suffix, description, done] of changes) {
    withIdToken(
      node
        .command(verb)
        .description(description)
        .argument("<domain>", "the domain id", domainArgument)
        .argument("<node-id>", "the node's id", nodeIdArgument),
    ).action(async (domain: string, nodeId: string, options: { url: string; idTokenFile?: string }) => {
      const credential = await adminCredential(domain, options);
      await callApi(options.url, method, `/v1/domains/${domain}/nodes/${nodeId}${suffix}`, credential.bearer, undefined, {
        ...credential.options,
        hint: (refusal) =>
          refusal.code === "node_decommissioned" ? `node ${nodeId} has been decommissioned; enroll a new node (\`custos node enroll\`) instead`
          : notFound(domain, nodeId, options.url)(refusal),
      });
      console.error(`custos: ${done} ${nodeId} in ${domain}`);
    });
  }
}

/** `custos domain list|show`, added to the `domain` family. */
export function registerDomainReadCommands(domainCommand: Command, context: ReadCommandContext): void {
  const { withIdToken, domainArgument, adminCredential, operatorToken, urlOption } = context;
  domainCommand
    .command("list")
    .description("List every domain: issuer, client id, created, updated (operator token from CUSTOS_OPERATOR_TOKEN)")
    .option(...LIMIT_OPTION)
    .option(...CURSOR_OPTION)
    .option(...JSON_OPTION)
    .option(...urlOption)
    .action(async (options: ListOptions & { url: string }) => {
      const token = operatorToken();
      const page = await listAll<DomainDocument>(options, async (query) => (await callApi(options.url, "GET", `/v1/domains${query}`, token)).body);
      printResult(page, options, (body) => formatTable(body.items, DOMAIN_COLUMNS));
    });

  withIdToken(
    domainCommand
      .command("show")
      .description("Show a domain: its provider, its admins and auditors as the authorizer has them, its node and secret counts (its admins and auditors)")
      .argument("<domain>", "the domain id", domainArgument)
      .option(...JSON_OPTION),
  ).action(async (domain: string, options: { json?: boolean; url: string; idTokenFile?: string }) => {
    const credential = await adminCredential(domain, options);
    const { body } = await callApi(options.url, "GET", `/v1/domains/${domain}`, credential.bearer, undefined, credential.options);
    printResult(body as DomainDocument, options, domainText);
  });
}
