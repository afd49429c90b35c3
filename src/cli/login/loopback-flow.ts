import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import * as client from "openid-client";
import { CommandRefused } from "../api-client.ts";

/**
 * The native-app sign-in of RFC 8252: authorization code flow with PKCE (S256), `state` and
 * `nonce`, the browser returning to a listener on an ephemeral port of 127.0.0.1 (§7.3). The
 * listener accepts exactly one callback: the first request to /callback decides the sign-in,
 * whatever it holds, and the listener closes.
 */
export interface LoopbackSignInOptions {
  readonly issuer: string;
  readonly clientId: string;
  readonly acrValues?: string | undefined;
  readonly maxAge?: number | undefined;
  readonly prompt?: "login" | undefined;
  /** How long to wait for the browser to come back. */
  readonly timeoutSeconds: number;
  /** Shown to the person with the URL to open (always: the browser may not open). */
  readonly announce: (url: string) => void;
  /** Opens the URL in a browser, or does nothing (`--no-browser`). */
  readonly openBrowser: (url: string) => void;
}

export interface LoopbackSignIn {
  readonly idToken: string;
  readonly expiresAt: number;
}

const CALLBACK_PATH = "/callback";
const CLOCK_TOLERANCE_SECONDS = 30;

/** Plain HTTP only to a provider on loopback, as Custos itself accepts (provider-url.ts). */
function issuerUrl(issuer: string): URL {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new CommandRefused(`the domain's issuer is not a URL: ${issuer}`);
  }
  const loopback = url.hostname === "localhost" || url.hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(url.hostname);
  if (url.protocol === "https:" || (url.protocol === "http:" && loopback)) return url;
  throw new CommandRefused(`refusing to sign in at ${url.origin}: a provider must use https (plain http only on loopback)`);
}

async function discover(options: LoopbackSignInOptions): Promise<client.Configuration> {
  const server = issuerUrl(options.issuer);
  try {
    return await client.discovery(server, options.clientId, { [client.clockTolerance]: CLOCK_TOLERANCE_SECONDS }, client.None(), {
      // Loopback only (issuerUrl): openid-client marks the switch deprecated so that it stands out.
      // eslint-disable-next-line @typescript-eslint/no-deprecated
      execute: server.protocol === "http:" ? [client.allowInsecureRequests] : [],
      timeout: 10,
    });
  } catch (error) {
    throw new CommandRefused(`cannot read the provider's configuration at ${server.origin}: ${error instanceof Error ? error.message : "error"}`);
  }
}

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function page(res: ServerResponse, status: number, title: string, text: string): void {
  const escape = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${String(c.charCodeAt(0))};`);
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'",
    "referrer-policy": "no-referrer",
    connection: "close",
  });
  res.end(`<!doctype html><html><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><h1>${escape(title)}</h1><p>${escape(text)}</p></body></html>`);
}

interface Listener {
  readonly server: Server;
  readonly redirectUri: string;
  /** The first request to /callback, with its response still to be written. */
  readonly callback: Promise<{ url: URL; res: ServerResponse }>;
}

async function listenOnLoopback(): Promise<Listener> {
  let deliver: (value: { url: URL; res: ServerResponse }) => void = () => undefined;
  const callback = new Promise<{ url: URL; res: ServerResponse }>((resolve) => {
    deliver = resolve;
  });
  let answered = false;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (req.method !== "GET" || url.pathname !== CALLBACK_PATH) {
      page(res, 404, "Not found", "This is custos login's sign-in listener; nothing else is here.");
      return;
    }
    if (answered) {
      page(res, 409, "Already answered", "This sign-in has already received its answer.");
      return;
    }
    answered = true;
    deliver({ url, res });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    // 127.0.0.1, never 0.0.0.0 or localhost: only this machine reaches it, on IPv4 as registered.
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return { server, redirectUri: `http://127.0.0.1:${String(port)}${CALLBACK_PATH}`, callback };
}

function closeListener(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
    server.closeAllConnections();
  });
}

function withTimeout<T>(promise: Promise<T>, seconds: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new CommandRefused(`no sign-in arrived within ${String(seconds)} s; run the command again`));
    }, seconds * 1000);
  });
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
  });
}

/** Never a token or a code in what the person sees: only which check failed. */
function exchangeFailure(error: unknown): CommandRefused {
  if (error instanceof client.ClientError) {
    const inner: unknown = error.cause;
    const claim = inner instanceof Error && typeof inner.cause === "object" && inner.cause !== null ? (inner.cause as { claim?: unknown }).claim : undefined;
    if (claim === "nonce") return new CommandRefused("sign-in refused: the id_token's nonce is not the one this sign-in sent");
    return new CommandRefused(`sign-in refused: ${error.code ?? "the provider's answer failed a check"}`);
  }
  if (error instanceof client.ResponseBodyError) return new CommandRefused(`sign-in refused: the provider's token endpoint answered ${error.error}`);
  return new CommandRefused(`sign-in failed: ${error instanceof Error ? error.name : "error"}`);
}

async function exchange(configuration: client.Configuration, callbackUrl: URL, checks: { state: string; nonce: string; verifier: string; maxAge: number | undefined }): Promise<LoopbackSignIn> {
  let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
  try {
    tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
      expectedState: checks.state,
      expectedNonce: checks.nonce,
      pkceCodeVerifier: checks.verifier,
      idTokenExpected: true,
      ...(checks.maxAge === undefined ? {} : { maxAge: checks.maxAge }),
    });
  } catch (error) {
    throw exchangeFailure(error);
  }
  const claims = tokens.claims();
  if (tokens.id_token === undefined || claims === undefined) throw new CommandRefused("sign-in refused: the provider returned no id_token");
  return { idToken: tokens.id_token, expiresAt: claims.exp };
}

/** The callback's own checks, before anything is sent to the provider: state first. */
function checkCallback(url: URL, state: string): void {
  const received = url.searchParams.get("state");
  if (received === null || !sameSecret(received, state)) {
    throw new CommandRefused("sign-in refused: the callback's state is not the one this sign-in sent (a stale or forged link)");
  }
  const error = url.searchParams.get("error");
  if (error !== null) throw new CommandRefused(`sign-in refused by the provider: ${error.replace(/[^\x20-\x7E]/g, "?").slice(0, 100)}`);
}

export async function signInThroughLoopback(options: LoopbackSignInOptions): Promise<LoopbackSignIn> {
  const configuration = await discover(options);
  const listener = await listenOnLoopback();
  try {
    const state = client.randomState();
    const nonce = client.randomNonce();
    const verifier = client.randomPKCECodeVerifier();
    const parameters: Record<string, string> = {
      redirect_uri: listener.redirectUri,
      response_type: "code",
      scope: "openid",
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
    };
    if (options.acrValues !== undefined) parameters.acr_values = options.acrValues;
    if (options.maxAge !== undefined) parameters.max_age = String(options.maxAge);
    if (options.prompt !== undefined) parameters.prompt = options.prompt;
    const url = client.buildAuthorizationUrl(configuration, parameters).href;
    options.announce(url);
    options.openBrowser(url);

    const { url: callbackUrl, res } = await withTimeout(listener.callback, options.timeoutSeconds);
    try {
      checkCallback(callbackUrl, state);
      // The token request repeats the redirect_uri exactly; the callback's query is the response.
      const response = new URL(listener.redirectUri);
      response.search = callbackUrl.search;
      const signedIn = await exchange(configuration, response, { state, nonce, verifier, maxAge: options.maxAge });
      page(res, 200, "Signed in", "custos is signed in. You can close this tab and return to the terminal.");
      return signedIn;
    } catch (error) {
      page(res, 400, "Sign-in refused", error instanceof Error ? error.message : "the sign-in was refused");
      throw error;
    }
  } finally {
    await closeListener(listener.server);
  }
}
