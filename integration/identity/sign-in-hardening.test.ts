import { Agent, request, type IncomingHttpHeaders } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRecords } from "../../src/audit/audit-store.ts";
import type { DevProvider } from "../../src/dev/provider/dev-provider.ts";
import { createCodeFlowSignIn } from "../../src/identity/oidc/code-flow.ts";
import { createSessionRepository } from "../../src/identity/sessions/session-repo.ts";
import { LOGIN_TTL_SECONDS, MAX_PENDING_LOGINS_PER_SOURCE, SESSION_TTL_SECONDS } from "../../src/identity/sessions/sign-in.ts";
import { startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";
import { createCookieJar, driveSignInFlow, fetchWithJar, type CookieJar } from "../support/oidc-driver.ts";
import { storeKinds } from "../support/stores.ts";
import { CLIENT_ID, createRelyingParty, domainOf, newLoginAttempt, refusalOf, startTestProvider } from "./oidc-fixtures.ts";

const MFA = "urn:custos:acr:mfa";

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One GET over a kept-alive connection, with headers fetch() will not send (Host). */
function get(agent: Agent, url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => { body += chunk; });
      res.on("end", () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body }); });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** A TCP listener that accepts connections and never answers until told to cut them. */
async function startBlackhole(): Promise<{ port: number; connections: () => number; cut: () => Promise<void> }> {
  const sockets: Socket[] = [];
  let seen = 0;
  let onFirst: (() => void) | undefined;
  const server: Server = createServer((socket) => {
    seen += 1;
    sockets.push(socket);
    onFirst?.();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const firstConnection = new Promise<void>((resolve) => { onFirst = resolve; });
  return {
    port,
    connections: () => seen,
    async cut() {
      await firstConnection;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    },
  };
}

describe.each(storeKinds())("browser sign-in hardening on %s", (kind) => {
  let env: CustosWithProvider;
  let agent: Agent;

  beforeAll(async () => {
    env = await startCustosWithProvider({ kind });
    agent = new Agent({ keepAlive: true, maxSockets: 8 });
  });
  afterAll(async () => {
    agent.destroy();
    await env.close();
  });

  const countRows = async (sql: string, params: readonly unknown[] = []) => {
    const [row] = await env.custos.db.query<{ n: number }>(sql, params);
    return row?.n ?? -1;
  };
  const pendingLogins = () => countRows("SELECT count(*)::int AS n FROM login_attempts");
  const sessionCookieOf = (jar: CookieJar) => jar.get(new URL(`${env.server.url}/`), "custos_session");
  const sessionWith = (cookie: string | undefined) => get(agent, `${env.server.url}/auth/session`, { cookie: `custos_session=${cookie ?? ""}` });

  describe("a domain that does not exist (item 5)", () => {
    it("answers login and callback with 404 not_found and creates no audit chain or event for it", async () => {
      const login = await get(agent, `${env.server.url}/auth/ghost/login`);
      expect(login.status).toBe(404);
      expect(JSON.parse(login.body)).toMatchObject({ code: "not_found" });
      expect(login.headers["set-cookie"]).toBeUndefined();

      const bare = await get(agent, `${env.server.url}/auth/ghost/callback?code=attacker-text&state=attacker-text`);
      expect(bare.status).toBe(404);
      expect(JSON.parse(bare.body)).toMatchObject({ code: "not_found" });

      // With a real pending login for another domain: still nothing for ghost, and acme's
      // attempt is not consumed by a request for a domain that does not exist.
      const acme = await get(agent, `${env.server.url}/auth/acme/login`);
      const loginCookie = (acme.headers["set-cookie"] ?? []).find((c) => c.startsWith("custos_login="))?.split(";")[0] ?? "";
      const withCookie = await get(agent, `${env.server.url}/auth/ghost/callback?code=x&state=y&error=access_denied`, { cookie: loginCookie });
      expect(withCookie.status).toBe(404);

      expect(await countRows("SELECT count(*)::int AS n FROM audit_chains WHERE chain = $1", ["ghost"])).toBe(0);
      expect(await countRows("SELECT count(*)::int AS n FROM audit_events WHERE chain = $1", ["ghost"])).toBe(0);
      expect(await countRows("SELECT count(*)::int AS n FROM login_attempts WHERE domain = $1", ["ghost"])).toBe(0);
    });
  });

  describe("CUSTOS_PUBLIC_URL unset (item 15)", () => {
    it("refuses sign-in with 501 not_provisioned naming CUSTOS_PUBLIC_URL when the Host is not loopback, storing nothing", async () => {
      const before = await pendingLogins();
      for (const path of ["/auth/acme/login", "/auth/acme/callback?code=c&state=s"]) {
        const answer = await get(agent, `${env.server.url}${path}`, { host: "custos.attacker.example" });
        expect(answer.status).toBe(501);
        const problem = JSON.parse(answer.body) as { code: string; detail: string };
        expect(problem.code).toBe("not_provisioned");
        expect(problem.detail).toContain("CUSTOS_PUBLIC_URL");
        expect(answer.headers.location).toBeUndefined();
      }
      expect(await pendingLogins()).toBe(before);
    });

    it("derives the redirect_uri from a loopback Host on a loopback connection", async () => {
      const port = new URL(env.server.url).port;
      const answer = await get(agent, `${env.server.url}/auth/acme/login`, { host: `localhost:${port}` });
      expect(answer.status).toBe(303);
      const location = new URL(answer.headers.location ?? "");
      expect(location.searchParams.get("redirect_uri")).toBe(`http://localhost:${port}/auth/acme/callback`);
    });
  });

  describe("pending logins and sessions are bounded and purged (item 9)", () => {
    it(`keeps at most ${String(MAX_PENDING_LOGINS_PER_SOURCE)} pending logins from one source under 1,000 login GETs`, async () => {
      await env.custos.db.query("DELETE FROM login_attempts");
      // 1,000 (62 times the bound) from eight at a time: 5,000 took minutes on a loaded 2-core machine.
      const total = 1_000;
      let next = 0;
      const statuses = new Map<number, number>();
      const worker = async () => {
        while (next < total) {
          next += 1;
          const answer = await get(agent, `${env.server.url}/auth/acme/login`);
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      expect(Object.fromEntries(statuses)).toEqual({ 303: total });
      // Exactly the bound: eight at a time from one source, and never one row more once they end.
      expect(await pendingLogins()).toBe(MAX_PENDING_LOGINS_PER_SOURCE);
    }, 180_000);

    it("evicts the source's oldest pending login first: the newest still completes, the oldest is gone", async () => {
      await env.custos.db.query("DELETE FROM login_attempts");
      const jars: CookieJar[] = [];
      const locations: string[] = [];
      for (let i = 0; i <= MAX_PENDING_LOGINS_PER_SOURCE; i += 1) {
        const jar = createCookieJar();
        const started = await fetchWithJar(new URL(`${env.server.url}/auth/acme/login`), jar);
        expect(started.status).toBe(303);
        jars.push(jar);
        locations.push(started.headers.get("location") ?? "");
      }
      expect(await pendingLogins()).toBe(MAX_PENDING_LOGINS_PER_SOURCE);
      const complete = async (index: number) => {
        const jar = jars[index] as CookieJar;
        const drive = await driveSignInFlow(locations[index] ?? "", { account: "alice", strength: "password", jar });
        return fetchWithJar(drive.callbackUrl, jar);
      };
      expect((await complete(0)).status).toBe(401);
      expect((await complete(MAX_PENDING_LOGINS_PER_SOURCE)).status).toBe(303);
    });

    it("purges expired login attempts when the next login is stored", async () => {
      await env.custos.db.query("DELETE FROM login_attempts");
      for (let i = 0; i < 3; i += 1) expect((await get(agent, `${env.server.url}/auth/acme/login`)).status).toBe(303);
      expect(await pendingLogins()).toBe(3);
      env.advanceClock(LOGIN_TTL_SECONDS + 1);
      expect((await get(agent, `${env.server.url}/auth/acme/login`)).status).toBe(303);
      expect(await pendingLogins()).toBe(1);
    });

    it("purges expired and ended sessions when the next sign-in completes", async () => {
      const repo = createSessionRepository(env.custos.db);
      const now = Math.floor(Date.now() / 1000);
      const session = { domain: "acme", subject: "oidc:acme:alice", acr: undefined, amr: [], authTime: undefined };
      await repo.saveSession("stale-expired", { ...session, expiresAt: now - 1 });
      await repo.saveSession("stale-ended", { ...session, expiresAt: now + 60 });
      await repo.endSession("stale-ended", now);
      await env.browserSession("bob@example.org", "password");
      expect(await countRows("SELECT count(*)::int AS n FROM sessions WHERE id_digest LIKE 'stale-%'")).toBe(0);
    });

    it("purgeExpired deletes expired login attempts and expired or ended sessions, and nothing live", async () => {
      const repo = createSessionRepository(env.custos.db);
      await env.custos.db.query("DELETE FROM login_attempts");
      await env.custos.db.query("DELETE FROM sessions");
      const now = Math.floor(Date.now() / 1000);
      const bounds = { source: "192.0.2.1", maxPerSource: 100, now, purgeBatch: 0 };
      const attempt = { domain: "acme", returnTo: "/", acrValues: undefined, maxAge: undefined };
      await repo.saveLoginAttempt("a-expired", attempt, now - 1, bounds);
      await repo.saveLoginAttempt("a-live", attempt, now + 60, bounds);
      const session = { domain: "acme", subject: "oidc:acme:alice", acr: undefined, amr: [], authTime: undefined };
      await repo.saveSession("s-expired", { ...session, expiresAt: now - 1 });
      await repo.saveSession("s-ended", { ...session, expiresAt: now + 60 });
      await repo.endSession("s-ended", now);
      await repo.saveSession("s-live", { ...session, expiresAt: now + 60 });

      await expect(repo.purgeExpired(now)).resolves.toEqual({ loginAttempts: 1, sessions: 2 });
      expect(await env.custos.db.query("SELECT id_digest FROM login_attempts")).toEqual([{ id_digest: "a-live" }]);
      expect(await env.custos.db.query("SELECT id_digest FROM sessions")).toEqual([{ id_digest: "s-live" }]);
      await expect(repo.purgeExpired(now + SESSION_TTL_SECONDS)).resolves.toEqual({ loginAttempts: 1, sessions: 1 });
    });
  });

  describe("a new sign-in in a browser that has a session (item 17)", () => {
    it("ends the weaker session the step-up replaces: the old cookie is refused afterwards, and the end is audited", async () => {
      const { jar } = await env.browserSession("alice", "password");
      const weaker = sessionCookieOf(jar);
      expect((await sessionWith(weaker)).status).toBe(200);

      await env.browserSession("alice", "mfa", { jar, acrValues: MFA, maxAge: 0 });
      const stronger = sessionCookieOf(jar);
      expect(stronger).not.toBe(weaker);
      const current = await sessionWith(stronger);
      expect(current.status).toBe(200);
      expect(JSON.parse(current.body)).toMatchObject({ acr: MFA });

      const replaced = await sessionWith(weaker);
      expect(replaced.status).toBe(401);
      const admin = await get(agent, `${env.server.url}/v1/domains/acme/audit/verify`, { cookie: `custos_session=${weaker ?? ""}` });
      expect(admin.status).toBe(401);
      const events = await readRecords(env.custos.db, "acme", 0, 100_000);
      expect(events.some((e) => e.action === "session.end" && e.reason === "replaced" && e.actor === "user:oidc:acme:alice")).toBe(true);
    });
  });

  describe("an explicit visit to the login URL (issue 13, item 2)", () => {
    it("asks the provider to authenticate again, so the person can choose another account", async () => {
      const { jar } = await env.browserSession("alice", "password");
      const started = await fetchWithJar(new URL(`${env.server.url}/auth/acme/login`), jar);
      const location = started.headers.get("location") ?? "";
      expect(new URL(location).searchParams.get("prompt")).toBe("login");
      const drive = await driveSignInFlow(location, { account: "bob@example.org", strength: "password", jar });
      expect(drive.prompts).toBe(1);
      expect((await fetchWithJar(drive.callbackUrl, jar)).status).toBe(303);
      const session = await fetchWithJar(new URL(`${env.server.url}/auth/session`), jar);
      expect(await session.json()).toMatchObject({ subject: "oidc:acme:bob@example.org" });
    });
  });

  describe("signing out (issue 13, item 2)", () => {
    /** Answers oidc-provider's "Do you want to sign-out?" page with "Yes, sign me out". */
    async function confirmProviderLogout(endSessionUrl: string, jar: CookieJar): Promise<number> {
      const page = await fetchWithJar(new URL(endSessionUrl), jar);
      const html = await page.text();
      const action = /<form[^>]*id="op\.logoutForm"[^>]*action="([^"]+)"|<form[^>]*action="([^"]+)"[^>]*id="op\.logoutForm"/.exec(html);
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
      const target = action?.[1] ?? action?.[2];
      if (target === undefined || xsrf === undefined) throw new Error(`no logout form at ${endSessionUrl}: ${html.slice(0, 300)}`);
      const confirmed = await fetchWithJar(new URL(target.replace(/&amp;/g, "&"), endSessionUrl), jar, {
        method: "POST",
        body: new URLSearchParams({ xsrf, logout: "yes" }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      return confirmed.status;
    }

    it("ends Custos's session and answers the provider's end_session_url, which ends the provider's session too", async () => {
      const { jar, csrf } = await env.browserSession("alice", "password");
      const rp = createRelyingParty();
      const acme = domainOf("acme", env.provider);
      // Before: the provider's session answers a sign-in without asking.
      const silent = await driveSignInFlow(await rp.signIn.authorizationUrl(acme, newLoginAttempt("acme")), { account: "alice", strength: "password", jar });
      expect(silent.prompts).toBe(0);

      const logout = await fetchWithJar(new URL(`${env.server.url}/auth/logout`), jar, { method: "POST", headers: { "x-csrf-token": csrf } });
      expect(logout.status).toBe(200);
      const { end_session_url: endSessionUrl } = (await logout.json()) as { end_session_url: string };
      const url = new URL(endSessionUrl);
      expect(url.origin).toBe(env.provider.issuer);
      expect(url.searchParams.get("client_id")).toBe(CLIENT_ID);
      expect((await fetchWithJar(new URL(`${env.server.url}/auth/session`), jar)).status).toBe(401);

      expect(await confirmProviderLogout(endSessionUrl, jar)).toBeLessThan(400);
      const after = await driveSignInFlow(await rp.signIn.authorizationUrl(acme, newLoginAttempt("acme")), { account: "alice", strength: "password", jar });
      expect(after.prompts).toBe(1);
    });

    it("answers 204 without a session", async () => {
      const answer = await fetchWithJar(new URL(`${env.server.url}/auth/logout`), createCookieJar(), { method: "POST" });
      expect(answer.status).toBe(204);
    });
  });

  describe("the provider's discovery failing (item 12)", () => {
    let flaky: { port: number; issuer: string };
    let provider: DevProvider | undefined;

    beforeAll(async () => {
      // A port that was a provider's and no longer listens.
      const gone = await startTestProvider(["flaky"]);
      flaky = { port: Number(new URL(gone.issuer).port), issuer: gone.issuer };
      await gone.close();
      const created = await env.putDomain("flaky", { issuer: flaky.issuer, client_id: CLIENT_ID, admins: ["alice"], auditors: [] });
      expect(created.status).toBe(201);
    });
    afterAll(async () => {
      await provider?.close();
    });

    it("answers every concurrent login 503 provider_unavailable, stores nothing, and recovers once the issuer is back", async () => {
      const answers = await Promise.all(Array.from({ length: 12 }, () => get(agent, `${env.server.url}/auth/flaky/login`)));
      for (const answer of answers) {
        expect(answer.status).toBe(503);
        expect(JSON.parse(answer.body)).toMatchObject({ code: "provider_unavailable" });
      }
      expect(await countRows("SELECT count(*)::int AS n FROM login_attempts WHERE domain = $1", ["flaky"])).toBe(0);

      provider = await startTestProvider(["flaky"], { port: flaky.port });
      expect(provider.issuer).toBe(flaky.issuer);
      const back = await get(agent, `${env.server.url}/auth/flaky/login`);
      expect(back.status).toBe(303);
      expect(new URL(back.headers.location ?? "").origin).toBe(flaky.issuer);
    });
  });
});

describe("createCodeFlowSignIn with a discovery in flight", () => {
  it("refuses every caller that joined a failing discovery with discovery_failed, then discovers again", async () => {
    const blackhole = await startBlackhole();
    const rp = createRelyingParty();
    const signIn = createCodeFlowSignIn({ verifier: rp.verifier });
    const domain = { id: "acme", issuer: `http://127.0.0.1:${String(blackhole.port)}`, clientId: CLIENT_ID, admins: [], auditors: [] };
    // Started together: every call joins the one discovery the first one started.
    const waiting = Array.from({ length: 6 }, () => refusalOf(signIn.authorizationUrl(domain, newLoginAttempt("acme"))).then((r) => r.reason, (error: unknown) => error));
    await blackhole.cut();
    expect(blackhole.connections()).toBe(1);
    expect(await Promise.all(waiting)).toEqual(Array.from({ length: 6 }, () => "discovery_failed"));

    const provider = await startTestProvider(["acme"], { port: blackhole.port });
    try {
      const url = new URL(await signIn.authorizationUrl(domainOf("acme", provider), newLoginAttempt("acme")));
      expect(url.origin).toBe(provider.issuer);
    } finally {
      await provider.close();
    }
  });
});
