import { CustosError } from "../platform/errors.ts";

/**
 * Cursor paging for the read APIs. A page is asked for with `?limit=` and `?cursor=`; the
 * answer carries `next_cursor` (absent on the last page). The cursor is opaque to clients: it
 * is the base64url of the last item's sort key, and the repository continues strictly after
 * that key, so a page boundary never repeats or skips an item that existed throughout.
 */

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;
const MAX_CURSOR_CHARS = 512;

export interface PageRequest {
  readonly limit: number;
  /** The sort key to continue after; undefined for the first page. */
  readonly after: string | undefined;
}

export interface Page<Item> {
  readonly items: readonly Item[];
  readonly nextCursor: string | undefined;
}

/** `?limit=&cursor=` from a query object, refusing anything else with 400 invalid_request. */
export function parsePageRequest(query: Readonly<Record<string, unknown>>): PageRequest {
  return { limit: parseLimit(query.limit), after: parseCursor(query.cursor) };
}

function parseLimit(value: unknown): number {
  if (value === undefined) return DEFAULT_PAGE_SIZE;
  if (typeof value !== "string" || !/^\d{1,4}$/.test(value)) throw new CustosError("invalid_request", { detail: "limit must be a whole number" });
  const limit = Number(value);
  if (limit < 1 || limit > MAX_PAGE_SIZE) throw new CustosError("invalid_request", { detail: `limit must be between 1 and ${String(MAX_PAGE_SIZE)}` });
  return limit;
}

function parseCursor(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(value)) {
    throw new CustosError("invalid_request", { detail: "cursor must be a next_cursor from an earlier page" });
  }
  const key = Buffer.from(value, "base64url").toString("utf8");
  if (key.length === 0 || Buffer.from(key, "utf8").toString("base64url") !== value) {
    throw new CustosError("invalid_request", { detail: "cursor must be a next_cursor from an earlier page" });
  }
  return key;
}

/**
 * The page from a repository's answer to `limit + 1` rows after the cursor: the extra row only
 * says whether there is a next page, and is never returned.
 */
export function pageOf<Item>(rows: readonly Item[], request: PageRequest, sortKeyOf: (item: Item) => string): Page<Item> {
  const items = rows.slice(0, request.limit);
  const last = items.at(-1);
  const nextCursor = rows.length > request.limit && last !== undefined ? Buffer.from(sortKeyOf(last), "utf8").toString("base64url") : undefined;
  return { items, nextCursor };
}

/** The wire shape of a page: `{ items, next_cursor? }`. */
export function pageBody<Item>(page: Page<Item>, itemBody: (item: Item) => unknown): { items: unknown[]; next_cursor?: string } {
  const body: { items: unknown[]; next_cursor?: string } = { items: page.items.map(itemBody) };
  if (page.nextCursor !== undefined) body.next_cursor = page.nextCursor;
  return body;
}

/** The OpenAPI parameters of a paged list. */
export const PAGE_PARAMETERS = [
  { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE } },
  { name: "cursor", in: "query", schema: { type: "string", pattern: "^[A-Za-z0-9_-]{1,512}$" }, description: "next_cursor from the previous page" },
] as const;
