import type { Request, Response } from "express";

/**
 * The few HTML pages Custos serves itself (the start page, the page after sign-in, refusals
 * shown to a browser) until the console exists. No script runs on them: the CSP below allows
 * only this origin's stylesheet, and every value placed in a page goes through escapeHtml.
 */
export const HTML_CSP = "default-src 'none'; style-src 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/** The stylesheet every page links to, served by {@link stylesheetRoute}. */
export const STYLESHEET_PATH = "/assets/custos.css";

const HTML_ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text for an element's content or a quoted attribute value. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character);
}

/**
 * A browser navigating (a person typed the URL, followed a link or a redirect): a GET or HEAD
 * whose Accept names text/html. Scripts calling the API (fetch sends `*\/*`, curl and the CLI
 * send nothing or JSON) are not, and keep their problem+json answers.
 */
export function isBrowserNavigation(req: Request): boolean {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  const accept = req.get("accept");
  return accept !== undefined && accept.toLowerCase().includes("text/html");
}

/** A whole page: `body` is HTML the caller has built from escaped values. */
export function renderPage(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title === "Custos" ? title : `${title} · Custos`)}</title><link rel="stylesheet" href="${STYLESHEET_PATH}"></head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`;
}

export function sendHtml(res: Response, status: number, html: string): void {
  res.setHeader("Content-Security-Policy", HTML_CSP);
  res.status(status).type("html").send(html);
}

const STYLESHEET = `body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2430}
main{max-width:42rem;margin:3rem auto;padding:0 1.25rem}
h1{font-size:1.6rem;margin-bottom:.5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}
dt{font-weight:600}
code{background:#e8ebf0;padding:0 .25rem;border-radius:3px}
.note{color:#5a6475}
`;

/** GET /assets/custos.css: the pages' only style, from this origin as their CSP requires. */
export function sendStylesheet(res: Response): void {
  res.setHeader("Cache-Control", "public, max-age=3600");
  res.type("text/css").send(STYLESHEET);
}
