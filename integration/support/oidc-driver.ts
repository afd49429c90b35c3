import type { DevStrength } from "../../src/dev/provider/dev-provider.ts";

/**
 * Drives a browser sign-in over plain HTTP, the way a browser would but without one: manual
 * redirects, a cookie jar, and the development provider's documented form (see
 * src/dev/provider/interaction-page.ts): POST `account` and `strength` to the page's
 * `/interaction/<uid>/login` action. Reusable by the `custos dev` tests: pass the same jar to
 * Custos's `/auth/<domain>/login` and callback requests.
 */

interface StoredCookie {
  readonly origin: string;
  readonly name: string;
  readonly value: string;
  readonly path: string;
}

/** Just enough of RFC 6265 for loopback tests: per origin, path-scoped, deletions honoured. */
export class CookieJar {
  readonly #cookies = new Map<string, StoredCookie>();

  store(url: URL, setCookies: readonly string[]): void {
    for (const header of setCookies) this.#storeOne(url, header);
  }

  header(url: URL): string | undefined {
    const matching = [...this.#cookies.values()].filter((cookie) => cookie.origin === url.origin && pathMatches(url.pathname, cookie.path));
    if (matching.length === 0) return undefined;
    return matching.map((cookie) => `${cookie.name}=${cookie.value}`).join("; ");
  }

  /** The value a named cookie has for `url`, for assertions. */
  get(url: URL, name: string): string | undefined {
    return [...this.#cookies.values()].find((cookie) => cookie.origin === url.origin && cookie.name === name && pathMatches(url.pathname, cookie.path))?.value;
  }

  #storeOne(url: URL, header: string): void {
    const [pair = "", ...attributes] = header.split(";").map((part) => part.trim());
    const separator = pair.indexOf("=");
    if (separator <= 0) return;
    const name = pair.slice(0, separator);
    const value = pair.slice(separator + 1);
    let path = "/";
    let expired = value === "";
    for (const attribute of attributes) {
      const [key = "", attributeValue = ""] = attribute.split("=", 2);
      const lower = key.toLowerCase();
      if (lower === "path" && attributeValue.startsWith("/")) path = attributeValue;
      if (lower === "max-age" && Number(attributeValue) <= 0) expired = true;
      if (lower === "expires" && Date.parse(attributeValue) <= Date.now()) expired = true;
    }
    const key = `${url.origin} ${path} ${name}`;
    if (expired) this.#cookies.delete(key);
    else this.#cookies.set(key, { origin: url.origin, name, value, path });
  }
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || requestPath.charAt(cookiePath.length) === "/";
}

export function createCookieJar(): CookieJar {
  return new CookieJar();
}

/** One HTTP exchange, no redirect followed, cookies sent from and stored into the jar. */
export async function fetchWithJar(url: URL, jar: CookieJar, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const cookie = jar.header(url);
  if (cookie !== undefined) headers.set("cookie", cookie);
  const response = await fetch(url, { method: init.method ?? "GET", body: init.body, headers, redirect: "manual" });
  jar.store(url, response.headers.getSetCookie());
  return response;
}

function redirectTarget(response: Response, from: URL): URL | undefined {
  if (response.status < 300 || response.status >= 400) return undefined;
  const location = response.headers.get("location");
  if (location === null) throw new Error(`HTTP ${response.status} from ${from.pathname} without a Location`);
  return new URL(location, from);
}

/** The form action ending in `suffix` (`/login` or `/abort`) on the development provider's page. */
export function formAction(html: string, page: URL, suffix: "/login" | "/abort"): URL {
  for (const match of html.matchAll(/<form[^>]*\saction="([^"]+)"/g)) {
    const action = match[1];
    if (action?.endsWith(suffix) === true) return new URL(decodeEntities(action), page);
  }
  throw new Error(`no form posting to …${suffix} on ${page.pathname}`);
}

export interface DriveSignInOptions {
  readonly account: string;
  readonly strength: DevStrength;
  /** Keep it across calls to keep the provider session (single sign-on, step-up). */
  readonly jar?: CookieJar;
  /** Cancel on the page instead of signing in: the client receives error=access_denied. */
  readonly cancel?: boolean;
}

export interface SignInDrive {
  /** Where the provider sent the browser back: the client's redirect_uri with code and state (or error). */
  readonly callbackUrl: URL;
  /** How many times the sign-in page was shown and answered (0: the session sufficed). */
  readonly prompts: number;
  readonly jar: CookieJar;
}

const MAX_HOPS = 12;

/**
 * Follows the provider's redirects from `authorizationUrl`, answers its sign-in page when it is
 * shown, and stops at the first redirect that leaves the provider's origin: the callback URL,
 * returned without being requested.
 */
export async function driveSignInFlow(authorizationUrl: string | URL, options: DriveSignInOptions): Promise<SignInDrive> {
  const jar = options.jar ?? createCookieJar();
  let url = new URL(authorizationUrl);
  const providerOrigin = url.origin;
  let prompts = 0;
  for (let hop = 0; hop < MAX_HOPS; hop += 1) {
    const response = await fetchWithJar(url, jar);
    let next = redirectTarget(response, url);
    if (next === undefined) {
      const html = await response.text();
      if (response.status !== 200) throw new Error(`HTTP ${response.status} at ${url.pathname}: ${html.slice(0, 300)}`);
      if (isSignInPage(html)) {
        prompts += 1;
        next = await answerPage(html, url, jar, options);
      } else {
        next = await continueFormPost(html, url, jar);
      }
    } else {
      await response.body?.cancel();
    }
    if (next.origin !== providerOrigin) return { callbackUrl: next, prompts, jar };
    url = next;
  }
  throw new Error(`no callback after ${MAX_HOPS} redirects`);
}

function isSignInPage(html: string): boolean {
  return /<form[^>]*\saction="[^"]*\/interaction\/[^"]*\/login"/.test(html);
}

/**
 * oidc-provider's own auto-submitting pages (a script submits them; without JavaScript a
 * person presses Continue): signing in as another account than the session's first ends that
 * session through such a form. Submit its hidden inputs as the button would.
 */
async function continueFormPost(html: string, page: URL, jar: CookieJar): Promise<URL> {
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  if (action === undefined) throw new Error(`unexpected page at ${page.pathname}: ${html.slice(0, 300)}`);
  const inputs = new URLSearchParams();
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\s*\/?>/g)) {
    inputs.append(match[1] ?? "", decodeEntities(match[2] ?? ""));
  }
  const target = new URL(decodeEntities(action), page);
  const response = await fetchWithJar(target, jar, { method: "POST", body: inputs.toString(), headers: { "content-type": "application/x-www-form-urlencoded" } });
  const next = redirectTarget(response, target);
  if (next === undefined) throw new Error(`${target.pathname} answered HTTP ${response.status}`);
  return next;
}

function decodeEntities(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (_match, entity: string) => ({ amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'", "#x27": "'" })[entity] ?? "");
}

async function answerPage(html: string, page: URL, jar: CookieJar, options: DriveSignInOptions): Promise<URL> {
  const action = formAction(html, page, options.cancel === true ? "/abort" : "/login");
  const body = options.cancel === true ? "" : new URLSearchParams({ account: options.account, strength: options.strength }).toString();
  const response = await fetchWithJar(action, jar, { method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded" } });
  const next = redirectTarget(response, action);
  if (next === undefined) throw new Error(`the sign-in form answered HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`);
  return next;
}

/** {@link driveSignInFlow}, returning only the callback URL. */
export async function driveSignIn(authorizationUrl: string | URL, options: DriveSignInOptions): Promise<URL> {
  return (await driveSignInFlow(authorizationUrl, options)).callbackUrl;
}
