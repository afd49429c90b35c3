import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { REPO_ROOT } from "../../support/cli.ts";

/**
 * Debian's Chromium, driven by playwright-core (no browser is ever downloaded). CI installs it
 * when it is missing (.ci/run); a machine without it skips the browser tests visibly.
 */
export const CHROMIUM = "/usr/bin/chromium";
export const chromiumMissing = !existsSync(CHROMIUM);

/** Where each run's screenshots go (git-ignored); docs/ holds a copy of two or three. */
export const SCREENSHOTS_DIR = path.join(REPO_ROOT, ".artifacts", "screenshots");

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/**
 * Everything a console page reports about itself: Content-Security-Policy violations (the
 * `securitypolicyviolation` event, and Chromium's own console message for it), script errors
 * and console errors. A page that breaks the CSP or throws fails the test that looks.
 */
export interface PageWatch {
  readonly violations: string[];
  readonly errors: string[];
}

/** A fresh context (its own cookies and storage, like a separate browser profile) and one page in it. */
export async function openPage(
  browser: Browser,
  options: { colorScheme?: "light" | "dark"; zoom?: number } = {},
): Promise<{ context: BrowserContext; page: Page; watch: PageWatch }> {
  // Zoom as a browser does it: the same window, fewer CSS pixels, each drawn larger.
  const zoom = options.zoom ?? 1;
  const context = await browser.newContext({
    acceptDownloads: true,
    viewport: { width: Math.round(1200 / zoom), height: Math.round(900 / zoom) },
    deviceScaleFactor: zoom,
    colorScheme: options.colorScheme ?? "light",
  });
  // Added over the DevTools protocol, not as an inline script: the page's CSP does not apply to it.
  await context.addInitScript({
    content: 'document.addEventListener("securitypolicyviolation", (event) => { console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`); });',
  });
  const page = await context.newPage();
  const watch: PageWatch = { violations: [], errors: [] };
  page.on("console", (message) => {
    const text = message.text();
    if (text.startsWith("CSP violation") || text.includes("Content Security Policy")) watch.violations.push(`${page.url()}: ${text}`);
    else if (message.type() === "error" && !isExpectedRefusal(text)) watch.errors.push(`${page.url()}: ${text}`);
  });
  page.on("pageerror", (error) => { watch.errors.push(`${page.url()}: ${error.message}`); });
  return { context, page, watch };
}

/** Chromium logs every non-2xx fetch as a console error; the refusals a test provokes on purpose are not faults. */
function isExpectedRefusal(text: string): boolean {
  return text.startsWith("Failed to load resource: the server responded with a status of");
}

/**
 * Answers the development provider's sign-in page as a person would: picks the account and
 * the strength ("password" or "mfa", the password + one-time code) and presses Sign in.
 */
export async function answerSignIn(page: Page, account: string, strength: "password" | "mfa"): Promise<void> {
  await page.waitForSelector("text=Custos development sign-in");
  await page.check(`input[name="account"][value="${account}"]`);
  await page.check(`input[name="strength"][value="${strength}"]`);
  await Promise.all([page.waitForURL((url) => url.pathname.startsWith("/console/")), page.click("button:has-text('Sign in')")]);
}

/** Everything this origin keeps in the browser's storage (sessionStorage and localStorage), as text. */
export async function browserStorage(page: Page): Promise<string> {
  return String(await page.evaluate("JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage })"));
}

/** The window as a person sees it (1200×900), or the whole page with `fullPage`. */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  await mkdir(SCREENSHOTS_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS_DIR, `${name}.png`), fullPage: options.fullPage === true });
}
