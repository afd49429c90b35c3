import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCookieJar, driveSignIn, fetchWithJar } from "../support/oidc-driver.ts";
import { startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";

/** What a browser sends when a person opens a URL. */
const BROWSER = { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" };

function cspOf(response: Response): string {
  return response.headers.get("content-security-policy") ?? "";
}

/**
 * The browser's path through Custos, over HTTP: the start page, the landing page after sign-in,
 * a signed-out auditor URL, a cancelled sign-in. API clients keep their problem+json answers.
 */
describe("browser pages", () => {
  let env: CustosWithProvider;

  beforeAll(async () => {
    env = await startCustosWithProvider();
  });
  afterAll(async () => {
    await env.close();
  });

  it("/ is an HTML start page for a browser, with a sign-in form and no script; API clients still get 404 problem+json", async () => {
    const page = await fetch(`${env.server.url}/`, { headers: BROWSER });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain("You are not signed in");
    expect(html).toContain('action="/sign-in"');
    expect(html).not.toContain("<script");
    expect(html).not.toContain("style=");
    expect(cspOf(page)).toContain("default-src 'none'");
    expect(cspOf(page)).not.toContain("script-src");
    expect(cspOf(page)).not.toContain("unsafe-inline");

    const api = await fetch(`${env.server.url}/`);
    expect(api.status).toBe(404);
    expect(api.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(await api.json()).toMatchObject({ code: "not_found" });

    const css = await fetch(`${env.server.url}/assets/custos.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toMatch(/^text\/css/);
  });

  it("the start page's form leads to the domain's sign-in", async () => {
    const response = await fetch(`${env.server.url}/sign-in?domain=acme`, { headers: BROWSER, redirect: "manual" });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/auth/acme/login");
  });

  it("after sign-in the person lands on the console, and the start page says who they are and what they can do next", async () => {
    const jar = createCookieJar();
    const started = await fetchWithJar(new URL(`${env.server.url}/auth/acme/login`), jar, { headers: BROWSER });
    expect(started.status).toBe(303);
    const callback = await driveSignIn(started.headers.get("location") ?? "", { account: "bob@example.org", strength: "password", jar });
    const finished = await fetchWithJar(callback, jar, { headers: BROWSER });
    expect(finished.status).toBe(303);
    expect(finished.headers.get("location")).toBe("/console/");

    const landing = await fetchWithJar(new URL(`${env.server.url}/`), jar, { headers: BROWSER });
    expect(landing.status).toBe(200);
    const html = await landing.text();
    expect(html).toContain("Signed in as</dt><dd>bob@example.org (an auditor)");
    expect(html).toContain("<dt>Domain</dt><dd>acme</dd>");
    expect(html).toContain('href="/v1/domains/acme/audit/verify"');
    expect(html).toMatch(/<time datetime="\d{4}-\d\d-\d\dT[^"]+Z">/);
    expect(html).not.toContain("<script");

    // The JSON session carries auth_time both as the id_token's epoch seconds and as ISO 8601.
    const session = (await (await fetchWithJar(new URL(`${env.server.url}/auth/session`), jar)).json()) as { auth_time: number; authenticated_at: string; expires_at: string };
    expect(typeof session.auth_time).toBe("number");
    expect(session.authenticated_at).toBe(new Date(session.auth_time * 1000).toISOString());
  });

  it("an admin's landing page names the admin role, the CLI sign-in and the step-up", async () => {
    const { jar } = await env.browserSession("alice", "password");
    const html = await (await fetchWithJar(new URL(`${env.server.url}/`), jar, { headers: BROWSER })).text();
    expect(html).toContain("alice (an admin)");
    expect(html).toContain("custos login acme");
    expect(html).toContain("step up now");
  });

  it("an auditor URL opened while signed out redirects a browser to sign in and back; an API client still gets 401", async () => {
    const path = "/v1/domains/acme/audit/verify";
    const browser = await fetch(`${env.server.url}${path}`, { headers: BROWSER, redirect: "manual" });
    expect(browser.status).toBe(303);
    const location = new URL(browser.headers.get("location") ?? "", env.server.url);
    expect(location.pathname).toBe("/auth/acme/login");
    expect(location.searchParams.get("return_to")).toBe(path);

    // Following it signs in and comes back to the auditor URL, which now answers.
    const jar = createCookieJar();
    const started = await fetchWithJar(location, jar, { headers: BROWSER });
    const callback = await driveSignIn(started.headers.get("location") ?? "", { account: "bob@example.org", strength: "password", jar });
    const finished = await fetchWithJar(callback, jar, { headers: BROWSER });
    expect(finished.headers.get("location")).toBe(path);
    expect((await fetchWithJar(new URL(`${env.server.url}${path}`), jar)).status).toBe(200);

    const api = await fetch(`${env.server.url}${path}`);
    expect(api.status).toBe(401);
    expect(api.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    const withBearer = await fetch(`${env.server.url}${path}`, { headers: { ...BROWSER, authorization: "Bearer not.a.token" } });
    expect(withBearer.status).toBe(401);
  });

  it("/auth/session opened by a signed-out browser goes to the start page; for a script it stays 401", async () => {
    const browser = await fetch(`${env.server.url}/auth/session`, { headers: BROWSER, redirect: "manual" });
    expect(browser.status).toBe(303);
    expect(browser.headers.get("location")).toBe("/");
    expect((await fetch(`${env.server.url}/auth/session`)).status).toBe(401);
  });

  it("Cancel on the provider's page lands on an HTML page that offers to sign in again; an API client still gets problem+json", async () => {
    const jar = createCookieJar();
    const started = await fetchWithJar(new URL(`${env.server.url}/auth/acme/login`), jar, { headers: BROWSER });
    const callback = await driveSignIn(started.headers.get("location") ?? "", { account: "alice", strength: "password", jar, cancel: true });
    expect(callback.searchParams.get("error")).toBe("access_denied");
    const page = await fetchWithJar(callback, jar, { headers: BROWSER });
    expect(page.status).toBe(401);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('href="/auth/acme/login"');
    expect(html).toMatch(/request id <code>[0-9a-f-]{36}<\/code>/);
    expect(html).not.toContain("<script");

    const again = await fetchWithJar(new URL(`${env.server.url}/auth/acme/login`), jar);
    const cancelled = await driveSignIn(again.headers.get("location") ?? "", { account: "alice", strength: "password", jar, cancel: true });
    const api = await fetchWithJar(cancelled, jar);
    expect(api.status).toBe(401);
    expect(api.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  });
});
