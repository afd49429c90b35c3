import type { Authorizer, Consistency } from "../authz/authorizer.ts";
import { decodeObjectId, secretRef } from "../authz/object-ids.ts";
import { pageOf, type Page, type PageRequest } from "../http/paging.ts";
import type { NodeRepository } from "../nodes/node-repo.ts";
import { CustosError } from "../platform/errors.ts";
import type { SecretMetadata, SecretRepository } from "./secret-repo.ts";

/**
 * The read side of secrets for a domain's admins and auditors: names, versions, times and
 * readers. Never the value: these verbs have no backend to ask. Successful reads are not
 * audited (metadata only; refusals are, by the route's permission step).
 */

export interface SecretMetadataDependencies {
  readonly secrets: Pick<SecretRepository, "describe" | "list">;
  readonly authorizer: Pick<Authorizer, "readRelationships">;
  readonly nodes: Pick<NodeRepository, "findNode">;
}

export interface SecretSummary {
  readonly name: string;
  readonly version: number;
  readonly updatedAt: string;
  readonly readerCount: number;
}

export interface SecretReader {
  readonly nodeId: string;
  /** The node's name, when its row is still there. */
  readonly name: string | undefined;
}

export interface SecretDetails {
  readonly name: string;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly readers: readonly SecretReader[];
}

/** How many reader lookups run at once when a page of secrets is counted. */
const READER_LOOKUPS_AT_ONCE = 8;

/**
 * The node ids SpiceDB holds as the secret's readers, at least as fresh as the last change to
 * them (the revision kept with the secret), whichever replica made it.
 */
export async function secretReaderIds(
  deps: Pick<SecretMetadataDependencies, "authorizer">,
  domain: string,
  secret: Pick<SecretMetadata, "name" | "authzRevision">,
): Promise<string[]> {
  const consistency: Consistency | undefined = secret.authzRevision === undefined ? undefined : { kind: "at_least_as_fresh", token: secret.authzRevision };
  const relationships = await deps.authorizer.readRelationships(
    { resourceType: "secret", resourceId: secretRef(domain, secret.name).id, relation: "reader" },
    consistency,
  );
  const ids = relationships.filter((each) => each.subject.type === "node").map((each) => decodeObjectId(each.subject.id)[0] ?? "");
  return [...new Set(ids)].filter((id) => id !== "").sort();
}

/** GET /v1/domains/{domain}/secrets: one page of the domain's secrets in name order, each with its number of readers. */
export async function listSecrets(
  deps: Pick<SecretMetadataDependencies, "secrets" | "authorizer">,
  input: { readonly domain: string; readonly page: PageRequest },
): Promise<Page<SecretSummary>> {
  const { domain, page } = input;
  const rows = await deps.secrets.list(domain, page.after, page.limit + 1);
  const listed = pageOf(rows, page, (row) => row.name);
  const items: SecretSummary[] = [];
  for (let start = 0; start < listed.items.length; start += READER_LOOKUPS_AT_ONCE) {
    const batch = listed.items.slice(start, start + READER_LOOKUPS_AT_ONCE);
    const counts = await Promise.all(batch.map(async (row) => (await secretReaderIds(deps, domain, row)).length));
    batch.forEach((row, index) => items.push({ name: row.name, version: row.version, updatedAt: row.updatedAt, readerCount: counts[index] ?? 0 }));
  }
  return { items, nextCursor: listed.nextCursor };
}

/** GET /v1/domains/{domain}/secrets/{name}: the secret's metadata and its readers; 404 for an unknown secret. */
export async function showSecret(deps: SecretMetadataDependencies, input: { readonly domain: string; readonly name: string }): Promise<SecretDetails> {
  const { domain, name } = input;
  const secret = await deps.secrets.describe(domain, name);
  if (secret === undefined) throw new CustosError("not_found", { detail: "no such secret in this domain" });
  const readerIds = await secretReaderIds(deps, domain, secret);
  const readers = await Promise.all(
    readerIds.map(async (nodeId): Promise<SecretReader> => {
      const node = await deps.nodes.findNode(nodeId);
      return { nodeId, name: node?.domain === domain ? node.name : undefined };
    }),
  );
  return { name: secret.name, version: secret.version, createdAt: secret.createdAt, updatedAt: secret.updatedAt, readers };
}
