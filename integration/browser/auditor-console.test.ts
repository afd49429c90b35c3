import { readFile } from "node:fs/promises";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditActor, auditResource } from "../../src/audit/audit-vocabulary.ts";
import { CONSOLE_CSP } from "../../src/console/console.routes.ts";
import { asDba } from "../audit/audit-fixtures.ts";
import { answerSignIn, chromiumMissing, launchChromium, openPage, screenshot, type PageWatch } from "./support/browser.ts";
import { startConsoleDemo, type ConsoleDemo } from "./support/console-demo.ts";

/**
 * An auditor in a real browser (Debian's Chromium): bob is sent to sign in, sees the chain,
 * verifies it, filters and pages through events, downloads a checkpoint, and sees a chain a
 * DBA tampered with named by its failure's kind and seq. Also: what a signed-out browser and a
 * request without the CSRF header get.
 */
describe.skipIf(chromiumMissing)("the console for an auditor, in Chromium", () => {
  let demo: ConsoleDemo;
  let browser: Browser;
  let bob: Page;
  let watch: PageWatch;
  const READS = 130;

  beforeAll(async () => {
    [demo, browser] = await Promise.all([startConsoleDemo(), launchChromium()]);
    // The demo node's reads, recorded as the read path records them: more than one page of events.
    await Promise.all(
      Array.from({ length: READS }, (_, index) =>
        demo.custos.audit.append({
          chain: demo.domain,
          actor: auditActor.node(demo.facts.node_id),
          action: "secret.read",
          resource: auditResource.secret(demo.domain, demo.facts.secret_name),
          decision: "granted",
          reason: "ok",
          requestId: `read-${String(index)}`,
        }),
      ),
    );
    ({ page: bob, watch } = await openPage(browser));
  });
  afterAll(async () => {
    await browser.close();
    await demo.close();
  });

  it("sends a signed-out visitor to sign in, and back to the page they asked for", async () => {
    const shell = await bob.goto(`${demo.url}/console/audit`);
    expect(shell?.headers()["content-security-policy"]).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
    expect(CONSOLE_CSP).not.toContain("unsafe");
    await bob.waitForSelector("text=You are not signed in.");
    await screenshot(bob, "signed-out");
    await bob.fill("#domain", demo.domain);
    await bob.press("#domain", "Enter");
    await answerSignIn(bob, demo.auditor, "password");
    expect(new URL(bob.url()).pathname).toBe("/console/audit");
    expect(await bob.textContent("#who-subject")).toBe(`bob (auditor) in ${demo.domain}`);
    expect(await bob.locator("nav a").allTextContents()).toEqual(["Nodes", "Secrets", "Grants", "Audit"]);
    expect(await bob.locator("#enroll-name").count()).toBe(0);
  });

  it("refuses a state-changing request from the signed-in page that lacks the session's CSRF header", async () => {
    const refused = await bob.evaluate(`fetch("/v1/domains/${demo.domain}/audit/checkpoints", { method: "POST", credentials: "same-origin" }).then(async (r) => ({ status: r.status, body: await r.json() }))`);
    expect(refused).toMatchObject({ status: 403, body: { code: "csrf_failed" } });
  });

  it("verifies the chain and shows the result in words", async () => {
    await bob.waitForSelector("text=not yet from this browser");
    await bob.click("#verify-now");
    const ok = bob.locator("#verify-ok");
    await ok.waitFor();
    expect(await ok.textContent()).toMatch(/^OK: \d+ records checked; every hash and link holds\.$/);
    expect(await bob.textContent("#chain-head")).toMatch(/^seq \d+, hash [0-9a-f]{64}$/);
    expect(await bob.textContent("#chain-verified")).toMatch(/^OK, \d+ seconds? ago$/);
  });

  it("filters events by action, decision, actor and time on the server, and pages through more than one page", async () => {
    const summary = bob.locator("#events-summary");
    const shows = (text: string) => bob.locator("#events-summary", { hasText: text }).waitFor();
    await bob.waitForSelector("#events-table table");
    expect(await summary.textContent()).toBe("100 events shown.");
    await bob.click("button:has-text('Load more')");
    await bob.waitForSelector("#events-table >> text=(all of them)");
    const total = Number((/^(\d+) events shown/.exec((await summary.textContent()) ?? "") ?? [])[1]);
    expect(total).toBeGreaterThan(READS);
    expect(await bob.isDisabled("button:has-text('Load more')")).toBe(true);

    await bob.fill("#filter-action", "secret.read");
    await shows("100 matching events shown.");
    await bob.click("button:has-text('Load more')");
    await shows(`${String(READS)} matching events shown (all of them).`);
    await bob.fill("#filter-action", "");
    await bob.fill("#filter-actor", "system:dev-seed");
    await bob.selectOption("#filter-decision", "granted");
    await shows("3 matching events shown (all of them).");
    const actions = await bob.locator("#events-table tbody tr td:nth-child(4)").allTextContents();
    expect(actions).toEqual(["node.enroll", "secret.write", "secret.grant"]);
    await bob.fill("#filter-from", "2000-01-01T00:00");
    await bob.fill("#filter-to", "2000-01-02T00:00");
    await shows("0 matching events shown (all of them).");
    await bob.fill("#filter-from", "");
    await bob.fill("#filter-to", "");
    await bob.fill("#filter-actor", "");
    await bob.selectOption("#filter-decision", "");
    await shows("100 events shown.");
    await screenshot(bob, "audit");
  });

  it("signs a checkpoint and downloads it, with the commands to verify a mirror offline", async () => {
    const [download] = await Promise.all([bob.waitForEvent("download"), bob.click("#checkpoint-download")]);
    const checkpoint = JSON.parse(await readFile(await download.path(), "utf8")) as { chain: string; seq: number; signature: string; key_id: string };
    expect(checkpoint).toMatchObject({ chain: demo.domain, seq: expect.any(Number) as number, signature: expect.any(String) as string });
    expect(download.suggestedFilename()).toBe(`${demo.domain}-checkpoint-${String(checkpoint.seq)}.json`);
    expect(await bob.textContent("#chain-checkpoint")).toMatch(new RegExp(`^seq ${String(checkpoint.seq)}, signed `));
    expect(await bob.textContent("#offline-commands")).toBe(
      `custos audit export ${demo.domain} --out ./mirror-${demo.domain}\n` +
        `custos audit verify ${demo.domain} --keys ${demo.url}/v1/audit/keys --mirror ./mirror-${demo.domain} --checkpoint ./${download.suggestedFilename()}`,
    );
  });

  it("names a tampered chain's failure by kind and seq, and says what it means", async () => {
    await asDba(demo.store.db, async (tx) => {
      await tx.query(`UPDATE audit_events SET details = '{"note": "nothing to see"}'::jsonb WHERE chain = $1 AND seq = 2`, [demo.domain]);
    });
    await bob.click("#verify-now");
    const failure = bob.locator("#verify-failure");
    await failure.waitFor();
    expect(await failure.textContent()).toBe(
      "FAILURE hash_mismatch at seq 2: a record's content no longer matches its hash: the record was changed after it was written.",
    );
    expect(await bob.textContent("#chain-verified")).toMatch(/^FAILED, /);
    expect(await bob.textContent("#chain-head")).toBe("not established: verification stopped at seq 2");
    await screenshot(bob, "audit-tampered");
  });

  it("signs out (offering the provider's sign-out too), and no console page reported a CSP violation or a script error", async () => {
    await bob.click("button:has-text('Sign out')");
    await bob.waitForSelector("text=You are not signed in.");
    expect(await bob.getAttribute("#signed-out-provider a", "href")).toMatch(new RegExp(`^${demo.provider.issuer}/`));
    const session = await bob.evaluate(`fetch("/auth/session").then((r) => r.status)`);
    expect(session).toBe(401);
    expect(watch.violations).toEqual([]);
    expect(watch.errors).toEqual([]);
  });
});
