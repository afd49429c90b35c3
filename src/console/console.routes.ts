import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { RequestHandler } from "express";
import { PROBLEM_RESPONSE } from "../http/openapi.ts";
import type { RouteDefinition } from "../http/routes.ts";
import { CustosError } from "../platform/errors.ts";
import { PACKAGE_ROOT } from "../package-paths.ts";
import { CONSOLE_STYLESHEET } from "./console-stylesheet.ts";

/**
 * The console: one HTML page and its script modules, served by Custos itself. The page holds
 * no data and no token; the script asks the API (with the session cookie) who is signed in.
 * Strict CSP: scripts and styles from this origin only, nothing inline, no eval, no frames.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** Where the browser modules are compiled to (`npm ci` builds them: bin/build.mjs). */
export const CONSOLE_SCRIPTS_DIR = path.join(PACKAGE_ROOT, "dist", "console", "browser");

const PAGES = ["nodes", "secrets", "grants", "audit"] as const;
const SCRIPT_NAME = /^[a-z][a-z-]{0,40}\.js$/;

const SHELL = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Custos console</title>
<link rel="stylesheet" href="/console/assets/console.css">
<script type="module" src="/console/assets/main.js"></script></head>
<body><div id="app"><p>Loading the console…</p></div>
<noscript><p>The console needs JavaScript. Without it, use the command line: <code>custos login &lt;domain&gt;</code>.</p></noscript>
</body>
</html>
`;

/** The compiled modules, read once: `main.js`, `api.js`, `pages/nodes.js`, … by their path under the directory. */
async function loadScripts(directory: string): Promise<ReadonlyMap<string, string>> {
  const scripts = new Map<string, string>();
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(path.join(directory, relative), { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const name = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory() && relative === "") await walk(entry.name);
      else if (entry.isFile() && SCRIPT_NAME.test(entry.name)) scripts.set(name, await readFile(path.join(directory, name), "utf8"));
    }
  };
  await walk("");
  return scripts;
}

export async function consoleRoutes(directory = CONSOLE_SCRIPTS_DIR): Promise<RouteDefinition[]> {
  const scripts = await loadScripts(directory);
  const sendShell: RequestHandler = (_req, res) => {
    if (!scripts.has("main.js")) throw new CustosError("not_provisioned", { detail: "the console is not built: run npm ci (or npm run build)" });
    res.setHeader("Content-Security-Policy", CONSOLE_CSP);
    res.type("html").send(SHELL);
  };
  const sendScript = (prefix: string): RequestHandler => (req, res) => {
    const file = req.params.file;
    // One name, never a path: an escaped slash decodes into the parameter.
    const script = typeof file === "string" && SCRIPT_NAME.test(file) ? scripts.get(`${prefix}${file}`) : undefined;
    if (script === undefined) throw new CustosError("not_found", { detail: "no such console asset" });
    res.type("text/javascript").send(script);
  };
  // Express matches `/console/` and `/console` alike (non-strict routing): one route, and the
  // path without its slash is sent to the one with it (a second route for it would loop).
  const sendRoot: RequestHandler = (req, res, next) => {
    if (req.path === "/console") res.redirect(308, "/console/");
    else next();
  };
  const shellDoc = { summary: "The web console (HTML; its script asks the API who is signed in)", responses: { "200": { description: "HTML" }, "501": PROBLEM_RESPONSE } };
  return [
    { method: "get", path: "/console/", doc: { ...shellDoc, responses: { ...shellDoc.responses, "308": { description: "/console to /console/" } } }, handlers: [sendRoot, sendShell] },
    ...PAGES.map((page): RouteDefinition => ({ method: "get", path: `/console/${page}`, doc: shellDoc, handlers: [sendShell] })),
    {
      method: "get",
      path: "/console/assets/console.css",
      doc: { summary: "The console's stylesheet", responses: { "200": { description: "text/css" } } },
      handlers: [(_req, res) => { res.type("text/css").send(CONSOLE_STYLESHEET); }],
    },
    {
      method: "get",
      path: "/console/assets/:file",
      doc: { summary: "A console script module", responses: { "200": { description: "text/javascript" }, "404": PROBLEM_RESPONSE } },
      handlers: [sendScript("")],
    },
    {
      method: "get",
      path: "/console/assets/pages/:file",
      doc: { summary: "A console page's script module", responses: { "200": { description: "text/javascript" }, "404": PROBLEM_RESPONSE } },
      handlers: [sendScript("pages/")],
    },
  ];
}
