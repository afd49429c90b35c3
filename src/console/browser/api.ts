import type { Problem } from "./explain.ts";

/**
 * The console talks to the same API as every other client, with the session cookie the
 * browser sends by itself and the session's CSRF token on state-changing requests. It never
 * holds a token that could be replayed elsewhere: the cookie is HttpOnly, and the CSRF token
 * is useless without it.
 */

export class Refusal extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.code);
  }
}

/**
 * GET /auth/session's answer (SessionView in src/identity/sessions/sign-in.ts). Written out
 * again here on purpose: the browser modules are their own TypeScript project, with no Node
 * types, and import nothing from the server.
 */
export interface Session {
  readonly domain: string;
  readonly subject: string;
  readonly acr: string | null;
  readonly amr: readonly string[];
  readonly auth_time: number | null;
  readonly authenticated_at: string | null;
  readonly expires_at: string;
  readonly csrf_token: string;
}

let csrfToken: string | undefined;

/** The signed-in session, or undefined when nobody is signed in. */
export async function loadSession(): Promise<Session | undefined> {
  const response = await fetch("/auth/session", { headers: { accept: "application/json" }, credentials: "same-origin" });
  if (response.status === 401) return undefined;
  if (!response.ok) throw new Refusal(await problemOf(response));
  const session = (await response.json()) as Session;
  csrfToken = session.csrf_token;
  return session;
}

/** Calls the API; resolves with the JSON answer (undefined for a 204), rejects with a Refusal. */
export async function api<T>(method: "GET" | "POST" | "PUT" | "DELETE", path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (method !== "GET" && csrfToken !== undefined) headers["x-csrf-token"] = csrfToken;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? null : JSON.stringify(body) });
  if (!response.ok) throw new Refusal(await problemOf(response));
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

async function problemOf(response: Response): Promise<Problem> {
  try {
    const body = (await response.json()) as Partial<Problem>;
    if (typeof body.code === "string") return { ...body, status: response.status, code: body.code };
  } catch {
    // not problem+json: described by its status below
  }
  return { status: response.status, code: response.status >= 500 ? "internal" : "unexpected_answer", detail: `HTTP ${String(response.status)}` };
}

/** Every item of a paged list, following next_cursor. */
export async function allPages<T>(path: string): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const separator = path.includes("?") ? "&" : "?";
    const page = await api<{ items: T[]; next_cursor?: string }>("GET", cursor === undefined ? path : `${path}${separator}cursor=${encodeURIComponent(cursor)}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor !== undefined);
  return items;
}

/** `/v1/domains/<domain>/…` with each segment escaped. */
export function domainPath(domain: string, ...segments: readonly string[]): string {
  return ["/v1/domains", domain, ...segments].map((segment, index) => (index === 0 ? segment : encodeURIComponent(segment))).join("/");
}
