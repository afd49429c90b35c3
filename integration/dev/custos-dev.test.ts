import { spawn, type ChildProcess } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seededDataDir } from "../support/stores.ts";
import { deriveBearerSecret, deriveWrapKey, formatNodeBearer, parseNsk } from "../../src/nodes/nsk.ts";
import { unwrapOnNode } from "../../src/secrets/wrap-for-node.ts";
import { CUSTOS_BIN, REPO_ROOT, runCli } from "../support/cli.ts";
import { createCookieJar, driveSignIn, fetchWithJar, type CookieJar } from "../support/oidc-driver.ts";

interface DevFacts {
  base_url: string; operator_token: string; domain: string; node_id: string; kid: string; nsk_file: string; secret_name: string; issuer: string;
}

/** A free loopback port, so that a test can ask /readyz before custos dev says where it is. */
async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

interface DevRun {
  readonly child: ChildProcess;
  readonly facts: DevFacts;
  readonly output: () => string;
  /** The dev.json read the moment /readyz first answered 200 (undefined when not polled). */
  readonly factsWhenFirstReady: DevFacts | undefined;
}

/**
 * Starts `custos dev` on `dir` and waits for its banner. With `pollReadiness`, /readyz is asked
 * every few milliseconds from the start, and dev.json is read the moment it first says ready.
 */
async function startDev(dir: string, options: { pollReadiness?: boolean } = {}): Promise<DevRun> {
  const port = await freePort();
  const child = spawn(process.execPath, [CUSTOS_BIN, "dev"], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", CUSTOS_PORT: String(port), CUSTOS_DATA_DIR: dir, CUSTOS_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on("data", (chunk: Buffer) => { output += chunk.toString(); });
  let factsWhenFirstReady: DevFacts | undefined;
  let polling = options.pollReadiness === true;
  const poller = (async () => {
    while (polling) {
      const status = await fetch(`http://127.0.0.1:${String(port)}/readyz`).then((response) => response.status, () => 0);
      if (status === 200) {
        factsWhenFirstReady = JSON.parse(await readFile(path.join(dir, "dev.json"), "utf8")) as DevFacts;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`custos dev was not ready within 90 s:\n${output}`)); }, 90_000);
      const poll = setInterval(() => {
        if (output.includes("custos dev ready on")) {
          clearTimeout(timer);
          clearInterval(poll);
          resolve();
        }
      }, 100);
      child.once("exit", (code) => { clearTimeout(timer); clearInterval(poll); reject(new Error(`custos dev exited ${String(code)}:\n${output}`)); });
    });
    await poller;
  } catch (error) {
    // A start that failed leaves no process holding the data directory for the next test.
    await stopDev(child, "SIGKILL");
    throw error;
  } finally {
    polling = false;
  }
  const facts = JSON.parse(await readFile(path.join(dir, "dev.json"), "utf8")) as DevFacts;
  return { child, facts, output: () => output, factsWhenFirstReady };
}

async function stopDev(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill(signal);
  await exited;
}

async function signIn(facts: DevFacts, jar: CookieJar, strength: "password" | "mfa", query = "", account = "alice"): Promise<string> {
  const started = await fetchWithJar(new URL(`${facts.base_url}/auth/${facts.domain}/login${query}`), jar);
  expect(started.status).toBe(303);
  const callback = await driveSignIn(started.headers.get("location") ?? "", { account, strength, jar });
  expect((await fetchWithJar(callback, jar)).status).toBe(303);
  const session = (await (await fetchWithJar(new URL(`${facts.base_url}/auth/session`), jar)).json()) as { csrf_token: string };
  return session.csrf_token;
}

/** Journey 1: the seeded node fetches its secret and decrypts it with its NSK. */
async function nodeFetchesItsSecret(facts: DevFacts): Promise<void> {
  const nsk = parseNsk(await readFile(facts.nsk_file, "utf8"));
  if (nsk === undefined) throw new Error("the NSK file does not hold an NSK");
  const response = await fetch(`${facts.base_url}/v1/nodes/${facts.node_id}/secrets/${facts.secret_name}`, {
    headers: { authorization: `Bearer ${formatNodeBearer(facts.kid, deriveBearerSecret(nsk))}` },
  });
  expect(response.status).toBe(200);
  const { jwe } = (await response.json()) as { jwe: string };
  expect((await unwrapOnNode(jwe, deriveWrapKey(nsk), facts.kid)).toString()).toBe("correct horse battery staple");
}

/** `custos node fetch` as a node runs it: the right kid works; a wrong kid or secret name says what to check. */
async function cliRefusalsSayWhatToCheck(facts: DevFacts): Promise<void> {
  const fetchWith = (kid: string, name: string) =>
    runCli(["node", "fetch", "--url", facts.base_url, "--node-id", facts.node_id, "--kid", kid, "--nsk-file", facts.nsk_file, name]);
  const right = await fetchWith(facts.kid, facts.secret_name);
  expect(right.code, right.stderr).toBe(0);
  expect(right.stdout).toBe("correct horse battery staple");

  const wrongKid = await fetchWith(`${facts.kid.slice(0, -1)}${facts.kid.endsWith("A") ? "B" : "A"}`, facts.secret_name);
  expect(wrongKid.code).toBe(1);
  expect(wrongKid.stderr).toContain("HTTP 401 invalid_token");
  expect(wrongKid.stderr).toContain("check --kid");

  const wrongName = await fetchWith(facts.kid, "Database-Password");
  expect(wrongName.code).toBe(1);
  expect(wrongName.stderr).toContain("HTTP 403 permission_denied");
  expect(wrongName.stderr).toContain('check the secret name "Database-Password"');
}

/** Journey 2: a password-only admin is sent back to step up, signs in with the second factor, and gets the grant. */
async function adminStepsUp(facts: DevFacts): Promise<void> {
  const jar = createCookieJar();
  const grant = (csrf: string) =>
    fetchWithJar(new URL(`${facts.base_url}/v1/domains/${facts.domain}/grants`), jar, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify({ node_id: facts.node_id, action: "ssh.login" }),
    });
  const weak = await grant(await signIn(facts, jar, "password"));
  expect(weak.status).toBe(401);
  const challenge = (await weak.json()) as { code: string; sign_in_url: string };
  expect(challenge.code).toBe("step_up_required");
  const stepUp = new URL(challenge.sign_in_url, facts.base_url);
  const strong = await grant(await signIn(facts, jar, "mfa", stepUp.search));
  expect(strong.status).toBe(201);
  expect(await strong.json()).toHaveProperty("grant");
}

/** Journey 3: the auditor sees the HTTP report; after stopping custos dev, custos audit verify exits 0. */
async function auditorVerifies(run: DevRun, dir: string): Promise<void> {
  const { facts } = run;
  const jar = createCookieJar();
  await signIn(facts, jar, "password", "", "bob");
  const report = await fetchWithJar(new URL(`${facts.base_url}/v1/domains/${facts.domain}/audit/verify`), jar);
  expect(report.status).toBe(200);
  expect(await report.json()).toMatchObject({ chain: facts.domain, ok: true, failure: null });
  const platform = await fetch(`${facts.base_url}/v1/domains/platform/audit/verify`, { headers: { authorization: `Bearer ${facts.operator_token}` } });
  expect(await platform.json()).toMatchObject({ ok: true });

  // Ctrl-C, as a person stops it: it says so, and ends by that signal once everything is closed.
  await stopDev(run.child, "SIGINT");
  expect(run.output()).toMatch(/custos dev stopped in \d+ ms/);
  expect(run.child.signalCode).toBe("SIGINT");
  const verified = await runCli(["audit", "verify", facts.domain, "--json"], { CUSTOS_DATA_DIR: dir });
  expect(verified.code, verified.stderr).toBe(0);
  expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true });
}

/** `custos dev` as a newcomer runs it, and the three journeys over HTTP — again after each restart. */
describe("custos dev", () => {
  let dir: string;
  let run: DevRun | undefined;

  beforeAll(async () => {
    // A new data directory whose embedded database is initialised (the run's template, no
    // schema): custos dev starts as on a newcomer's first run, without waiting for initdb.
    dir = await seededDataDir("custos-dev-");
  });
  afterAll(async () => {
    if (run !== undefined) await stopDev(run.child);
    await rm(dir, { recursive: true, force: true });
  });

  it("first start: prints the banner and the journeys, writes dev.json, lists its warnings in /readyz, and the three journeys work", { timeout: 180_000 }, async () => {
    run = await startDev(dir);
    const output = run.output();
    expect(output).toContain("CUSTOS DEVELOPMENT MODE");
    expect(output).toContain("npx custos node fetch");
    expect(Object.keys(run.facts).sort()).toEqual(["base_url", "domain", "issuer", "kid", "node_id", "nsk_file", "operator_token", "secret_name"]);
    const ready = (await (await fetch(`${run.facts.base_url}/readyz`)).json()) as { status: string; warnings: string[] };
    expect(ready.status).toBe("ready");
    expect(ready.warnings.join(" ")).toContain("development mode");

    // Start-up output holds nothing a user cannot act on: oidc-provider's runtime warning is gone.
    expect(output).not.toContain("oidc-provider WARNING");

    await nodeFetchesItsSecret(run.facts);
    await cliRefusalsSayWhatToCheck(run.facts);
    await adminStepsUp(run.facts);
    await auditorVerifies(run, dir);
  });

  it.each([2, 3])("start %i on the same data directory: ready only once this run's dev.json is written, and the three journeys still work", { timeout: 180_000 }, async () => {
    const previous = run?.facts;
    run = await startDev(dir, { pollReadiness: true });
    // A script that waits for /readyz reads this run's facts, never the previous run's.
    expect(run.factsWhenFirstReady).toEqual(run.facts);
    expect(run.facts.base_url).not.toBe(previous?.base_url);
    // The node and its NSK survive the restart.
    expect(run.facts.node_id).toBe(previous?.node_id);

    await nodeFetchesItsSecret(run.facts);
    await adminStepsUp(run.facts);
    await auditorVerifies(run, dir);
  });
});
