import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONSOLE_CSP, consoleRoutes } from "../../src/console/console.routes.ts";
import { problemErrorHandler } from "../../src/http/problem.ts";
import { mountRoutes } from "../../src/http/routes.ts";
import { createLogger } from "../../src/platform/logging.ts";

/** The console's routes over HTTP, with compiled modules in a directory of the test's own. */
async function serve(directory: string): Promise<{ url: string; server: Server }> {
  const app = express();
  mountRoutes(app, await consoleRoutes(directory));
  app.use(problemErrorHandler(createLogger({ level: "silent" })));
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`, server };
}

describe("the console's routes", () => {
  let built: string;
  let empty: string;
  let servers: Server[];
  let url: string;
  let unbuiltUrl: string;

  beforeAll(async () => {
    built = await mkdtemp(path.join(os.tmpdir(), "custos-console-"));
    empty = await mkdtemp(path.join(os.tmpdir(), "custos-console-empty-"));
    await mkdir(path.join(built, "pages"));
    await writeFile(path.join(built, "main.js"), "export {};\n");
    await writeFile(path.join(built, "pages", "audit.js"), "export const audit = 1;\n");
    await writeFile(path.join(built, "main.js.map"), "{}");
    const [withScripts, without] = await Promise.all([serve(built), serve(empty)]);
    servers = [withScripts.server, without.server];
    url = withScripts.url;
    unbuiltUrl = without.url;
  });
  afterAll(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    await rm(built, { recursive: true, force: true });
    await rm(empty, { recursive: true, force: true });
  });

  it("serves one shell for every console page, with the strict CSP and no inline script or style", async () => {
    for (const page of ["/console/", "/console/nodes", "/console/secrets", "/console/grants", "/console/audit"]) {
      const response = await fetch(`${url}${page}`);
      expect(response.status, page).toBe(200);
      expect(response.headers.get("content-security-policy"), page).toBe(CONSOLE_CSP);
      const html = await response.text();
      expect(html).toContain('<script type="module" src="/console/assets/main.js"></script>');
      expect(html).not.toMatch(/<script>|<style|\sstyle=|\son[a-z]+=/i);
    }
    expect(CONSOLE_CSP).toMatch(/script-src 'self';/);
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
    expect(CONSOLE_CSP).not.toMatch(/unsafe-inline|unsafe-eval|\*|https?:/);
  });

  it("sends /console to /console/ once, not in a loop", async () => {
    const bare = await fetch(`${url}/console`, { redirect: "manual" });
    expect(bare.status).toBe(308);
    expect(bare.headers.get("location")).toBe("/console/");
    expect((await fetch(`${url}/console/`, { redirect: "manual" })).status).toBe(200);
  });

  it("serves only the compiled modules as scripts, and nothing else from their directory", async () => {
    const main = await fetch(`${url}/console/assets/main.js`);
    expect(main.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect(await main.text()).toBe("export {};\n");
    expect((await fetch(`${url}/console/assets/pages/audit.js`)).status).toBe(200);
    for (const asset of ["main.js.map", "pages%2Faudit.js", "..%2Fmain.js", "nope.js"]) {
      const refused = await fetch(`${url}/console/assets/${asset}`);
      expect(refused.status, asset).toBe(404);
      expect(((await refused.json()) as { code: string }).code).toBe("not_found");
    }
    expect((await fetch(`${url}/console/assets/console.css`)).headers.get("content-type")).toMatch(/^text\/css/);
  });

  it("says the console is not built instead of serving a page that cannot run", async () => {
    const response = await fetch(`${unbuiltUrl}/console/`);
    expect(response.status).toBe(501);
    expect(((await response.json()) as { code: string; detail: string })).toMatchObject({ code: "not_provisioned", detail: expect.stringContaining("npm ci") as string });
  });
});
