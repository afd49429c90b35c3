import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { calculateJwkThumbprint, type JWK } from "jose";
import { saveSignIn, signInFile } from "../../src/cli/login/sign-in-store.ts";
import { CUSTOS_BIN, REPO_ROOT, type CliResult } from "../support/cli.ts";
import { startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";
import { driveSignIn, fetchWithJar, createCookieJar } from "../support/oidc-driver.ts";
import type { DevStrength } from "../../src/dev/provider/dev-provider.ts";

/**
 * `custos login` and automatic step-up, over HTTP against the development provider. The CLI
 * runs as a child process of the compiled dist; this test plays the browser: it reads the
 * sign-in URL the CLI prints, answers the provider's pages, and follows the redirect to the
 * CLI's loopback listener.
 */

interface BrowserVisit {
  readonly url: URL;
  /** What the loopback listener answered the browser. */
  readonly status: number;
}

type PlayBrowser = (authorizationUrl: URL) => Promise<BrowserVisit>;

interface InteractiveRun extends CliResult {
  readonly visits: readonly BrowserVisit[];
}

/** Runs custos, and plays `browser` for every sign-in URL it prints on stderr. */
function runInteractive(args: readonly string[], env: Readonly<Record<string, string>>, browser: PlayBrowser, issuer: string): Promise<InteractiveRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CUSTOS_BIN, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NODE_ENV: "test", CUSTOS_LOG_LEVEL: "warn", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let pending = "";
    const visits: Promise<BrowserVisit>[] = [];
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines.filter((each) => each.startsWith(`${issuer}/`))) visits.push(browser(new URL(line)));
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`custos ${args.join(" ")} timed out:\n${stderr}`));
    }, 50_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      Promise.all(visits).then((done) => { resolve({ code, stdout, stderr, visits: done }); }, reject);
    });
  });
}

/** A browser that signs in as `account` with `strength`, optionally tampering on the way. */
function browserSigningIn(account: string, strength: DevStrength, tamper: { authorization?: (url: URL) => void; callback?: (url: URL) => void } = {}): PlayBrowser {
  return async (authorizationUrl) => {
    const url = new URL(authorizationUrl);
    tamper.authorization?.(url);
    const jar = createCookieJar();
    const callback = await driveSignIn(url, { account, strength, jar });
    tamper.callback?.(callback);
    const answer = await fetchWithJar(callback, jar);
    await answer.body?.cancel();
    return { url, status: answer.status };
  };
}

describe("custos login, whoami, logout and automatic step-up", () => {
  let env: CustosWithProvider;
  let nodeId: string;

  beforeAll(async () => {
    env = await startCustosWithProvider();
    const strong = await env.idToken("alice", "mfa");
    const enrolled = await fetch(`${env.server.url}/v1/domains/acme/nodes`, {
      method: "POST",
      headers: { authorization: `Bearer ${strong}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "login-node" }),
    });
    nodeId = ((await enrolled.json()) as { node_id: string }).node_id;
    const written = await fetch(`${env.server.url}/v1/domains/acme/secrets/login-secret`, {
      method: "PUT",
      headers: { authorization: `Bearer ${strong}`, "content-type": "application/json" },
      body: JSON.stringify({ value: "v" }),
    });
    expect(written.status).toBeLessThan(300);
  });
  afterAll(async () => {
    await env.close();
  });

  /** Runs `test` with a config home of its own (XDG_CONFIG_HOME), removed afterwards. */
  async function withConfigHome(test: (home: string) => Promise<void>): Promise<void> {
    const home = await mkdtemp(path.join(os.tmpdir(), "custos-login-"));
    try {
      await test(home);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }

  function login(configHome: string, browser: PlayBrowser): Promise<InteractiveRun> {
    return runInteractive(["login", "acme", "--url", env.server.url, "--no-browser", "--timeout", "30"], { XDG_CONFIG_HOME: configHome }, browser, env.provider.issuer);
  }

  it("GET /v1/domains/{domain}/sign-in names the issuer and client_id without a credential; an unknown domain is 404 not_found", async () => {
    const found = await fetch(`${env.server.url}/v1/domains/acme/sign-in`);
    expect(found.status).toBe(200);
    expect(await found.json()).toEqual({ issuer: env.provider.issuer, client_id: "custos" });
    const missing = await fetch(`${env.server.url}/v1/domains/nowhere/sign-in`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toContain("application/problem+json");
    expect(((await missing.json()) as { code: string }).code).toBe("not_found");
  });

  it("login completes the loopback flow and stores only the needed fields, 0600 in a 0700 directory; whoami shows claims, not the token; logout forgets it", async () => {
    await withConfigHome(async (home) => {
      const run = await login(home, browserSigningIn("alice", "password"));
      expect(run.code, run.stderr).toBe(0);
      expect(run.visits).toHaveLength(1);
      const [visit] = run.visits;
      expect(visit?.status).toBe(200);
      const redirect = new URL(visit?.url.searchParams.get("redirect_uri") ?? "");
      expect(redirect.hostname).toBe("127.0.0.1");
      expect(redirect.pathname).toBe("/callback");
      expect(visit?.url.searchParams.get("code_challenge_method")).toBe("S256");

      const file = signInFile(path.join(home, "custos"), env.server.url, "acme");
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
      expect((await stat(path.join(home, "custos"))).mode & 0o777).toBe(0o700);
      const stored = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
      expect(Object.keys(stored).sort()).toEqual(["base_url", "client_id", "domain", "expires_at", "id_token", "issuer"]);
      expect(stored).toMatchObject({ base_url: env.server.url, domain: "acme", issuer: env.provider.issuer, client_id: "custos" });
      expect(await readdir(path.dirname(file))).toHaveLength(1);

      const whoami = await runInteractive(["whoami", "acme", "--url", env.server.url], { XDG_CONFIG_HOME: home }, browserSigningIn("alice", "password"), env.provider.issuer);
      expect(whoami.code, whoami.stderr).toBe(0);
      expect(JSON.parse(whoami.stdout)).toMatchObject({ sub: "alice", acr: "urn:custos:acr:password", amr: ["pwd"], expired: false });
      expect(whoami.stdout + whoami.stderr).not.toContain(String(stored.id_token));

      const logout = await runInteractive(["logout", "acme", "--url", env.server.url], { XDG_CONFIG_HOME: home }, browserSigningIn("alice", "password"), env.provider.issuer);
      expect(logout.code, logout.stderr).toBe(0);
      await expect(stat(file)).rejects.toThrow();
    });
  });

  it("an elevated command with a password-only sign-in signs in again exactly once with the challenge's acr_values and max_age, then succeeds", async () => {
    await withConfigHome(async (home) => {
      expect((await login(home, browserSigningIn("alice", "password"))).code).toBe(0);
      const grant = await runInteractive(
        ["secret", "grant", "acme", "login-secret", nodeId, "--url", env.server.url],
        // `true` receives the URL and does nothing: this test is the browser, from stderr.
        { XDG_CONFIG_HOME: home, CUSTOS_BROWSER: "true" },
        browserSigningIn("alice", "mfa"),
        env.provider.issuer,
      );
      expect(grant.code, grant.stderr).toBe(0);
      expect(grant.stderr).toContain("this action needs a sign-in of class urn:custos:acr:mfa, made within the last 300 s");
      expect(grant.visits).toHaveLength(1);
      expect(grant.visits[0]?.url.searchParams.get("acr_values")).toBe("urn:custos:acr:mfa");
      expect(grant.visits[0]?.url.searchParams.get("max_age")).toBe("300");
      expect(grant.stderr).toContain(`granted ${nodeId} on acme/login-secret`);
      // The stepped-up sign-in replaced the stored one.
      const whoami = await runInteractive(["whoami", "acme", "--url", env.server.url], { XDG_CONFIG_HOME: home }, browserSigningIn("alice", "mfa"), env.provider.issuer);
      expect(JSON.parse(whoami.stdout)).toMatchObject({ acr: "urn:custos:acr:mfa" });
    });
  });

  it("README journey 2: login with a password, node enroll steps up once and writes the NSK 0600; grant then needs no new sign-in", async () => {
    await withConfigHome(async (home) => {
      expect((await login(home, browserSigningIn("alice", "password"))).code).toBe(0);
      const nskFile = path.join(home, "web-1.nsk");
      const enroll = await runInteractive(
        ["node", "enroll", "acme", "web-1", "--nsk-file", nskFile, "--url", env.server.url],
        { XDG_CONFIG_HOME: home, CUSTOS_BROWSER: "true" },
        browserSigningIn("alice", "mfa"),
        env.provider.issuer,
      );
      expect(enroll.code, enroll.stderr).toBe(0);
      expect(enroll.visits).toHaveLength(1);
      const enrolled = JSON.parse(enroll.stdout) as { node_id: string; kid: string; nsk_file: string; event_key_thumbprint: string };
      expect(enrolled.nsk_file).toBe(nskFile);
      // What the node agent pins: the thumbprint of the domain's active event key.
      const jwks = (await (await fetch(`${env.server.url}/v1/domains/acme/jwks.json`)).json()) as { keys: (JWK & { custos_use: string })[] };
      const eventKey = jwks.keys.find((key) => key.custos_use === "event");
      expect(enrolled.event_key_thumbprint).toBe(await calculateJwkThumbprint(eventKey as JWK, "sha256"));
      expect(enroll.stdout).not.toContain((await readFile(nskFile, "utf8")).trim());
      expect((await stat(nskFile)).mode & 0o777).toBe(0o600);

      const grant = await runInteractive(
        ["grant", "acme", enrolled.node_id, "ssh.login", "--url", env.server.url],
        { XDG_CONFIG_HOME: home, CUSTOS_BROWSER: "true" },
        browserSigningIn("alice", "mfa"),
        env.provider.issuer,
      );
      expect(grant.code, grant.stderr).toBe(0);
      expect(grant.visits).toHaveLength(0);
      expect(grant.stdout).toContain("grant");
    });
  });

  it("a re-sign-in that is still too weak is refused with the challenge after one retry, not looped", async () => {
    await withConfigHome(async (home) => {
      expect((await login(home, browserSigningIn("alice", "password"))).code).toBe(0);
      const grant = await runInteractive(
        ["secret", "grant", "acme", "login-secret", nodeId, "--url", env.server.url],
        { XDG_CONFIG_HOME: home, CUSTOS_BROWSER: "true" },
        browserSigningIn("alice", "password"),
        env.provider.issuer,
      );
      expect(grant.code).toBe(1);
      expect(grant.visits).toHaveLength(1);
      expect(grant.stderr).toContain("HTTP 401 step_up_required");
    });
  });

  it("without a terminal (and no CUSTOS_BROWSER) nothing opens: the command exits 1 with the challenge", async () => {
    await withConfigHome(async (home) => {
      expect((await login(home, browserSigningIn("alice", "password"))).code).toBe(0);
      const grant = await runInteractive(
        ["secret", "grant", "acme", "login-secret", nodeId, "--url", env.server.url],
        { XDG_CONFIG_HOME: home, CI: "true" },
        browserSigningIn("alice", "mfa"),
        env.provider.issuer,
      );
      expect(grant.code).toBe(1);
      expect(grant.visits).toHaveLength(0);
      expect(grant.stderr).toContain("HTTP 401 step_up_required");
      expect(grant.stderr).toContain('error="insufficient_user_authentication"');
      expect(grant.stderr).toContain('acr_values="urn:custos:acr:mfa"');
    });
  });

  it("a callback with a tampered state is refused at the loopback listener, and nothing is stored", async () => {
    await withConfigHome(async (home) => {
      const run = await login(home, browserSigningIn("alice", "password", { callback: (url) => { url.searchParams.set("state", "forged-state"); } }));
      expect(run.code).toBe(1);
      expect(run.visits[0]?.status).toBe(400);
      expect(run.stderr).toContain("state is not the one this sign-in sent");
      await expect(stat(signInFile(path.join(home, "custos"), env.server.url, "acme"))).rejects.toThrow();
    });
  });

  it("an id_token carrying another nonce than the one sent is refused, and nothing is stored", async () => {
    await withConfigHome(async (home) => {
      const run = await login(home, browserSigningIn("alice", "password", { authorization: (url) => { url.searchParams.set("nonce", "not-the-cli-nonce"); } }));
      expect(run.code).toBe(1);
      expect(run.visits[0]?.status).toBe(400);
      expect(run.stderr).toContain("the id_token's nonce is not the one this sign-in sent");
      await expect(stat(signInFile(path.join(home, "custos"), env.server.url, "acme"))).rejects.toThrow();
    });
  });

  it("an expired or refused stored sign-in says so and how to renew; --id-token-file still works for automation", async () => {
    await withConfigHome(async (home) => {
      const token = await env.idToken("alice", "mfa");
      await saveSignIn(path.join(home, "custos"), { base_url: env.server.url, domain: "acme", issuer: env.provider.issuer, client_id: "custos", id_token: token, expires_at: 1_000_000 });
      const run = await runInteractive(["secret", "grant", "acme", "login-secret", nodeId, "--url", env.server.url], { XDG_CONFIG_HOME: home }, browserSigningIn("alice", "mfa"), env.provider.issuer);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("expired");
      expect(run.stderr).toContain(`custos login acme --url ${env.server.url}`);
      const none = await runInteractive(["secret", "grant", "acme", "login-secret", nodeId, "--url", env.server.url], { XDG_CONFIG_HOME: path.join(home, "empty") }, browserSigningIn("alice", "mfa"), env.provider.issuer);
      expect(none.code).toBe(2);
      expect(none.stderr).toContain("not signed in to acme");
      await saveSignIn(path.join(home, "custos"), { base_url: env.server.url, domain: "acme", issuer: env.provider.issuer, client_id: "custos", id_token: `${token.slice(0, -4)}AAAA`, expires_at: 4_000_000_000 });
      const refused = await runInteractive(["secret", "grant", "acme", "login-secret", nodeId, "--url", env.server.url], { XDG_CONFIG_HOME: home }, browserSigningIn("alice", "mfa"), env.provider.issuer);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("HTTP 401 invalid_token");
      expect(refused.stderr).toContain("Custos refused your stored sign-in to acme; sign in again: `custos login acme");
      const file = path.join(home, "token.jwt");
      await writeFile(file, token);
      const automated = await runInteractive(["secret", "grant", "acme", "login-secret", nodeId, "--url", env.server.url, "--id-token-file", file], { XDG_CONFIG_HOME: home }, browserSigningIn("alice", "mfa"), env.provider.issuer);
      expect(automated.code, automated.stderr).toBe(0);
    });
  });
});
