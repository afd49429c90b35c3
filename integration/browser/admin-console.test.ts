import { readFile } from "node:fs/promises";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONSOLE_CSP } from "../../src/console/console.routes.ts";
import { answerSignIn, browserStorage, chromiumMissing, launchChromium, openPage, screenshot, type PageWatch } from "./support/browser.ts";
import { startConsoleDemo, type ConsoleDemo } from "./support/console-demo.ts";

/**
 * An admin in a real browser (Debian's Chromium): alice signs in with a password, meets
 * step-up as a sentence and one button, signs in again with the one-time code, and confirms
 * the action the console kept for her. One browser for the file; each test its own profile.
 */
describe.skipIf(chromiumMissing)("the console for an admin, in Chromium", () => {
  let demo: ConsoleDemo;
  let browser: Browser;
  const watches: PageWatch[] = [];
  /** Alice after the first test's step-up: password + one-time code, fresh. */
  let steppedUp: Page;

  beforeAll(async () => {
    [demo, browser] = await Promise.all([startConsoleDemo(), launchChromium()]);
  });
  afterAll(async () => {
    await browser.close();
    await demo.close();
  });

  async function signedInAlice(strength: "password" | "mfa", path = "/console/", options: { zoom?: number; colorScheme?: "light" | "dark" } = {}): Promise<Page> {
    const { page, watch } = await openPage(browser, options);
    watches.push(watch);
    await page.goto(`${demo.url}${path}`);
    await page.fill("#domain", demo.domain);
    await page.click("button:has-text('Sign in')");
    await answerSignIn(page, demo.admin, strength);
    await page.waitForSelector("#who-subject");
    return page;
  }

  it("enrolls a node only after a step-up and the admin's confirmation, and shows its NSK once", async () => {
    const page = await signedInAlice("password");
    expect(await page.textContent("#who-subject")).toBe(`alice (admin) in ${demo.domain}`);
    expect(await page.textContent("#who-strength")).toContain("urn:custos:acr:password, pwd");
    await page.waitForSelector("table >> text=demo-node");
    await screenshot(page, "nodes");

    await page.fill("#enroll-name", "web-1");
    await page.click("button:has-text('Enroll')");
    const stepUp = page.locator(".notice.step-up");
    await stepUp.waitFor();
    expect(await stepUp.locator("p").first().textContent()).toBe(
      "This action needs a sign-in with a second factor (for example a one-time code or a security key) within the last 5 minutes. Your current sign-in used a password only.",
    );
    await screenshot(page, "step-up");

    await page.click("#step-up");
    await answerSignIn(page, demo.admin, "mfa");
    const confirm = page.locator("#confirm-pending");
    await confirm.waitFor();
    expect(await confirm.textContent()).toBe("Confirm: enroll node web-1");
    expect(await page.inputValue("#enroll-name")).toBe("web-1");
    await page.waitForSelector("table >> text=demo-node");
    // Back on the page, nothing has been done on the admin's behalf yet.
    expect(await page.locator("table >> text=web-1").count()).toBe(0);
    expect(await page.textContent("#who-strength")).toContain("urn:custos:acr:mfa, pwd + otp");

    await confirm.click();
    const nsk = page.locator("#nsk-value");
    await nsk.waitFor();
    const shown = (await nsk.textContent()) ?? "";
    expect(shown).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const nodeId = (await page.textContent("#nsk-node-id")) ?? "";
    const kid = (await page.textContent("#nsk-kid")) ?? "";
    expect(await page.textContent(".nsk-once pre")).toBe(`custos node fetch --url ${demo.url} --node-id ${nodeId} --kid ${kid} --nsk-file ./web-1.nsk <secret-name>`);
    await page.waitForSelector("table >> text=web-1");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("a:has-text('Download web-1.nsk')")]);
    expect(download.suggestedFilename()).toBe("web-1.nsk");
    expect(await readFile(await download.path(), "utf8")).toBe(`${shown}\n`);
    await screenshot(page, "nsk-once");

    await page.reload();
    await page.waitForSelector("table >> text=web-1");
    expect(await page.locator("#nsk-value").count()).toBe(0);
    expect(await page.content()).not.toContain(shown);
    expect(await browserStorage(page)).not.toContain(shown);
    steppedUp = page;
  });

  it("writes a secret from a file (a too large one refused in words), lets the new node read it, then quarantines and decommissions the node", async () => {
    const page = steppedUp;
    await page.click("nav a:has-text('Secrets')");
    await page.waitForSelector("table >> text=database-password");
    await page.fill("#secret-name", "api-token");
    await page.setInputFiles("#secret-file", { name: "too-big.bin", mimeType: "application/octet-stream", buffer: Buffer.alloc(40_000, "x") });
    await page.click("button:has-text('Write')");
    const refusal = (await page.locator(".notice.error").textContent()) ?? "";
    expect(refusal).toMatch(/^value must be at most 32768 bytes — invalid_request, request [\w-]+$/);
    await page.setInputFiles("#secret-file", { name: "api-token.txt", mimeType: "text/plain", buffer: Buffer.from("s3cr3t-from-a-file") });
    await page.click("button:has-text('Write')");
    await page.waitForSelector(".notice.ok >> text=Wrote api-token, version 1.");
    expect(await page.inputValue("#secret-value")).toBe("");

    await page.click("table button:has-text('api-token')");
    await page.waitForSelector("#secret-details h2 >> text=api-token, version 1");
    await page.selectOption("#reader-node", { label: "web-1" });
    await page.click("button:has-text('Add reader')");
    await page.waitForSelector(".notice.ok >> text=web-1 may now read api-token.");
    await page.waitForSelector("#secret-details table >> text=web-1");
    // The list is refreshed after the notice: wait for its reader count to say 1.
    await page.waitForSelector("tr:has(button:text-is('api-token')) td:nth-child(4):text-is('1')");
    expect(await page.content()).not.toContain("s3cr3t-from-a-file");
    await screenshot(page, "secrets");

    await page.click("nav a:has-text('Nodes')");
    await page.click("tr:has-text('web-1') >> button:has-text('Quarantine')");
    await page.waitForSelector(".notice.ok >> text=Quarantined web-1");
    await page.waitForSelector("tr:has-text('web-1') td:nth-child(2):text-is('quarantined')");
    page.once("dialog", (dialog) => { void dialog.accept(); });
    await page.click("tr:has-text('web-1') >> button:has-text('Decommission')");
    await page.waitForSelector(".notice.ok >> text=Decommissioned web-1");
    await page.waitForSelector("tr:has-text('web-1') td:nth-child(2):text-is('decommissioned')");
    expect(await page.locator("tr:has-text('web-1') button").count()).toBe(0);
    await page.context().close();
  });

  it("keeps a grant's form across the step-up (2 minutes for access.issue) and shows the signed grant once confirmed", async () => {
    const page = await signedInAlice("password", "/console/grants");
    expect(new URL(page.url()).pathname).toBe("/console/grants");
    await page.selectOption("#grant-node", { label: "demo-node" });
    await page.fill("#grant-action", "restart");
    await page.fill("#grant-ttl", "600");
    await page.click("button:has-text('Issue')");
    await page.waitForSelector(".notice.step-up");
    expect(await page.locator(".notice.step-up p").first().textContent()).toBe(
      "This action needs a sign-in with a second factor (for example a one-time code or a security key) within the last 2 minutes. Your current sign-in used a password only.",
    );
    await page.click("#step-up");
    await answerSignIn(page, demo.admin, "mfa");
    await page.waitForSelector("#confirm-pending");
    expect(await page.textContent("#confirm-pending")).toBe("Confirm: issue a restart grant for demo-node");
    expect([await page.inputValue("#grant-action"), await page.inputValue("#grant-ttl")]).toEqual(["restart", "600"]);
    expect(await page.locator("#grant-node option:checked").textContent()).toBe("demo-node");
    expect(await page.textContent("#grant-issued")).toBe("");

    await page.click("#confirm-pending");
    const token = (await page.locator("#grant-token").textContent()) ?? "";
    expect(token.split(".")).toHaveLength(3);
    const [header, payload] = token.split(".").slice(0, 2).map((part) => JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>);
    expect(header).toMatchObject({ alg: "EdDSA" });
    expect(payload).toMatchObject({ aud: `node:${demo.facts.node_id}`, iss: `urn:custos:domain:${demo.domain}` });
    expect(Number(payload?.exp) - Number(payload?.iat)).toBe(600);
    expect(await page.textContent("#grant-issued")).toContain(`${demo.url}/v1/domains/${demo.domain}/jwks.json`);
    await page.waitForSelector("table >> td:has-text('restart')");
    await screenshot(page, "grants");
    await page.context().close();
  });

  it("never keeps a secret's value in the browser across the step-up: the name comes back, the value is asked for again; then readers and the secret are removed", async () => {
    const page = await signedInAlice("password", "/console/secrets");
    await page.fill("#secret-name", "smtp-password");
    await page.fill("#secret-value", "typed-before-the-step-up");
    await page.click("button:has-text('Write')");
    await page.waitForSelector(".notice.step-up");
    const stored = await browserStorage(page);
    await page.click("#step-up");
    await answerSignIn(page, demo.admin, "mfa");
    await page.waitForSelector("#confirm-pending");
    expect(await browserStorage(page)).not.toContain("typed-before-the-step-up");
    expect(stored).not.toContain("typed-before-the-step-up");
    expect(await page.inputValue("#secret-name")).toBe("smtp-password");
    expect(await page.inputValue("#secret-value")).toBe("");

    await page.click("#confirm-pending");
    await page.waitForSelector(".notice.error >> text=Enter the value of smtp-password again");
    expect(await page.locator("table >> text=smtp-password").count()).toBe(0);
    await page.fill("#secret-value", "typed-after-the-step-up");
    await page.click("button:has-text('Write')");
    await page.waitForSelector(".notice.ok >> text=Wrote smtp-password, version 1.");

    // Readers removed, and the secret deleted after the confirm dialog.
    await page.click("table button:has-text('smtp-password')");
    await page.selectOption("#reader-node", { label: "demo-node" });
    await page.click("button:has-text('Add reader')");
    await page.waitForSelector(".notice.ok >> text=demo-node may now read smtp-password.");
    await page.click("#secret-details tr:has-text('demo-node') >> button:has-text('Remove')");
    await page.waitForSelector(".notice.ok >> text=demo-node can no longer read smtp-password.");
    await page.waitForSelector("#secret-details >> text=Readers of smtp-password: none yet.");
    page.once("dialog", (dialog) => { void dialog.accept(); });
    await page.click("button:has-text('Delete this secret')");
    await page.waitForSelector(".notice.ok >> text=Deleted smtp-password");
    await page.waitForSelector("table button:has-text('smtp-password')", { state: "detached" });
    await page.context().close();
  });

  it("works from the keyboard at 200% zoom, with the focus visible and no sideways scrolling", async () => {
    const page = await signedInAlice("password", "/console/secrets", { zoom: 2, colorScheme: "dark" });
    await page.waitForSelector("table >> text=database-password");
    await page.focus("nav a:has-text('Nodes')");
    await page.keyboard.press("Enter");
    await page.waitForSelector("table >> text=demo-node");
    expect(new URL(page.url()).pathname).toBe("/console/nodes");
    expect(await page.evaluate("document.activeElement.id")).toBe("content");
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement.id")).toBe("enroll-name");
    expect(await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")).toBe("solid");
    await page.keyboard.type("web-2");
    await page.keyboard.press("Enter");
    await page.waitForSelector(".notice.step-up");
    expect(await page.evaluate("document.activeElement.id")).toBe("step-up");
    expect(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")).toBe(true);
    await screenshot(page, "zoom-200-dark");
    await page.keyboard.press("Enter");
    await page.waitForSelector("text=Custos development sign-in");
    await page.context().close();
  });

  it("the shell carries the strict CSP, and no console page reported a violation or a script error", () => {
    expect(watches.flatMap((watch) => watch.violations)).toEqual([]);
    expect(watches.flatMap((watch) => watch.errors)).toEqual([]);
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
  });
});
