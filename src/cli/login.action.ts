import { spawn } from "node:child_process";
import { CommandRefused, CommandUsageError } from "./api-client.ts";
import { claimsOf, configDirectory, listSignIns, loadSignIn, normaliseBaseUrl, removeSignIn, saveSignIn, type StoredSignIn } from "./login/sign-in-store.ts";
import { currentSurroundings, describeStepUp, mayReSignIn, reSignInParameters, type ReSignInParameters, type StepUpChallenge } from "./login/step-up-challenge.ts";

/**
 * `custos login`, `whoami` and `logout`, and what the admin commands use of them: the stored
 * sign-in as their bearer, and a new sign-in when an action answers with a step-up challenge.
 */

export interface LoginOptions {
  readonly url: string;
  /** commander's `--no-browser`: false means print the URL only. */
  readonly browser: boolean;
  readonly timeout: number;
}

const DEFAULT_TIMEOUT_SECONDS = 300;

interface SignInSettings {
  readonly issuer: string;
  readonly client_id: string;
}

/** `GET /v1/domains/{domain}/sign-in`: where this domain's admins sign in. */
async function signInSettings(baseUrl: string, domain: string): Promise<SignInSettings> {
  let response: Response;
  try {
    response = await fetch(`${baseUrl}/v1/domains/${domain}/sign-in`, { signal: AbortSignal.timeout(15_000) });
  } catch (error) {
    throw new CommandRefused(`cannot reach ${baseUrl}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (response.status === 404) throw new CommandRefused(`no domain "${domain}" at ${baseUrl}`);
  const settings = (body ?? {}) as Partial<Record<keyof SignInSettings, unknown>>;
  if (!response.ok || typeof settings.issuer !== "string" || typeof settings.client_id !== "string") {
    throw new CommandRefused(`${baseUrl} did not say where to sign in to ${domain} (HTTP ${String(response.status)})`);
  }
  return { issuer: settings.issuer, client_id: settings.client_id };
}

/**
 * Opens the URL with `CUSTOS_BROWSER` (a program given the URL as its one argument) or the
 * system's opener. Failing to open is not an error: the URL has been printed.
 */
function browserOpener(enabled: boolean): (url: string) => void {
  if (!enabled) return () => undefined;
  return (url) => {
    const chosen = process.env.CUSTOS_BROWSER;
    const [command, args] =
      chosen !== undefined && chosen !== "" ? [chosen, [url]]
      : process.platform === "darwin" ? ["open", [url]]
      : process.platform === "win32" ? ["rundll32", ["url.dll,FileProtocolHandler", url]]
      : ["xdg-open", [url]];
    try {
      const child = spawn(command, args, { stdio: "ignore", detached: true });
      child.on("error", () => undefined);
      child.unref();
    } catch {
      // Printed already; the person opens it by hand.
    }
  };
}

function announce(url: string): void {
  console.error(`custos: to sign in, open this URL in a browser on this machine:\n${url}`);
}

async function signIn(baseUrl: string, domain: string, options: { browser: boolean; timeout: number; step?: ReSignInParameters }): Promise<StoredSignIn> {
  const settings = await signInSettings(baseUrl, domain);
  // Loaded only here: openid-client is needed to sign in, not to present a stored sign-in.
  const { signInThroughLoopback } = await import("./login/loopback-flow.ts");
  const signedIn = await signInThroughLoopback({
    issuer: settings.issuer,
    clientId: settings.client_id,
    acrValues: options.step?.acrValues,
    maxAge: options.step?.maxAge,
    prompt: options.step?.prompt,
    timeoutSeconds: options.timeout,
    announce,
    openBrowser: browserOpener(options.browser),
  });
  const stored: StoredSignIn = { base_url: baseUrl, domain, issuer: settings.issuer, client_id: settings.client_id, id_token: signedIn.idToken, expires_at: signedIn.expiresAt };
  await saveSignIn(configDirectory(), stored);
  return stored;
}

/** What whoami prints: the claims, never the token. */
function describe(stored: StoredSignIn, now: number): Record<string, unknown> {
  const claims = claimsOf(stored.id_token);
  return {
    base_url: stored.base_url,
    domain: stored.domain,
    sub: claims.sub,
    acr: claims.acr,
    amr: claims.amr,
    auth_time: claims.auth_time === undefined ? undefined : new Date(claims.auth_time * 1000).toISOString(),
    expires_at: new Date(stored.expires_at * 1000).toISOString(),
    expired: stored.expires_at <= now,
  };
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export async function runLogin(domain: string, options: LoginOptions): Promise<void> {
  const baseUrl = normaliseBaseUrl(options.url);
  const stored = await signIn(baseUrl, domain, { browser: options.browser, timeout: options.timeout });
  const claims = claimsOf(stored.id_token);
  console.error(`custos: signed in to ${domain} at ${baseUrl} as ${claims.sub ?? "?"} (${claims.acr ?? "no acr"})`);
  console.log(JSON.stringify(describe(stored, nowSeconds())));
}

export async function runWhoami(domain: string | undefined, options: { url: string }): Promise<void> {
  const configDir = configDirectory();
  const found =
    domain === undefined ? await listSignIns(configDir) : [await loadSignIn(configDir, normaliseBaseUrl(options.url), domain)].filter((each) => each !== undefined);
  if (found.length === 0) {
    throw new CommandRefused(domain === undefined ? "not signed in anywhere; run `custos login <domain>`" : `not signed in to ${domain} at ${normaliseBaseUrl(options.url)}; run \`custos login ${domain} --url ${normaliseBaseUrl(options.url)}\``);
  }
  for (const stored of found) console.log(JSON.stringify(describe(stored, nowSeconds())));
}

export async function runLogout(domain: string, options: { url: string }): Promise<void> {
  const baseUrl = normaliseBaseUrl(options.url);
  const removed = await removeSignIn(configDirectory(), baseUrl, domain);
  console.error(removed ? `custos: signed out of ${domain} at ${baseUrl}` : `custos: was not signed in to ${domain} at ${baseUrl}`);
}

export interface StoredCredential {
  readonly bearer: string;
  readonly onStepUp: (challenge: StepUpChallenge) => Promise<string | undefined>;
  /** For a refusal of the token itself (revoked key, clock skew, removed admin): how to renew. */
  readonly renewAdvice: string;
}

function loginCommand(domain: string, baseUrl: string): string {
  return `custos login ${domain} --url ${baseUrl}`;
}

/**
 * The admin commands' default bearer: the stored sign-in for (--url, domain). Missing or
 * expired, the command stops before calling anything and says how to sign in.
 */
export async function storedCredential(url: string, domain: string): Promise<StoredCredential> {
  const baseUrl = normaliseBaseUrl(url);
  const stored = await loadSignIn(configDirectory(), baseUrl, domain);
  if (stored === undefined) throw new CommandUsageError(`not signed in to ${domain} at ${baseUrl}: run \`${loginCommand(domain, baseUrl)}\` (or pass --id-token-file)`);
  if (stored.expires_at <= nowSeconds()) {
    throw new CommandUsageError(`your sign-in to ${domain} at ${baseUrl} expired at ${new Date(stored.expires_at * 1000).toISOString()}: run \`${loginCommand(domain, baseUrl)}\` to renew it`);
  }
  return {
    bearer: stored.id_token,
    onStepUp: (challenge) => stepUp(baseUrl, domain, challenge),
    renewAdvice: `Custos refused your stored sign-in to ${domain}; sign in again: \`${loginCommand(domain, baseUrl)}\``,
  };
}

/**
 * RFC 9470 on the command line: say what is missing, sign in again asking for exactly that,
 * and hand back the new id_token for one retry. Without a person at a terminal nothing opens:
 * the command fails with the challenge.
 */
async function stepUp(baseUrl: string, domain: string, challenge: StepUpChallenge): Promise<string | undefined> {
  console.error(`custos: ${describeStepUp(challenge)}`);
  if (!mayReSignIn(currentSurroundings())) {
    console.error(`custos: no terminal (or CI is set), so no sign-in is opened; run \`${loginCommand(domain, baseUrl)}\` where a browser is available, or set CUSTOS_BROWSER`);
    return undefined;
  }
  const stored = await signIn(baseUrl, domain, { browser: true, timeout: DEFAULT_TIMEOUT_SECONDS, step: reSignInParameters(challenge) });
  return stored.id_token;
}
