import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deriveBearerSecret, deriveWrapKey, formatNodeBearer, parseNsk } from "../../src/identity/nodes/nsk.ts";
import { unwrapOnNode } from "../../src/secrets/wrap-for-node.ts";
import { CUSTOS_BIN, REPO_ROOT, runCli } from "../support/cli.ts";
import { createCookieJar, driveSignIn, fetchWithJar, type CookieJar } from "../support/oidc-driver.ts";

interface DevFacts {
  base_url: string; operator_token: string; domain: string; node_id: string; kid: string; nsk_file: string; secret_name: string; issuer: string;
}

/** Issue 7: `custos dev` as a newcomer runs it, and the three journeys, over HTTP only. */
describe("custos dev", () => {
  let dir: string;
  let child: ChildProcess;
  let facts: DevFacts;
  let output = "";

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "custos-dev-"));
    child = spawn(process.execPath, [CUSTOS_BIN, "dev"], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", CUSTOS_PORT: "0", CUSTOS_DATA_DIR: dir, CUSTOS_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr?.on("data", (chunk: Buffer) => { output += chunk.toString(); });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`custos dev was not ready within 60 s:\n${output}`)); }, 60_000);
      const poll = setInterval(() => {
        if (output.includes("custos dev ready on")) {
          clearTimeout(timer);
          clearInterval(poll);
          resolve();
        }
      }, 100);
      child.once("exit", (code) => { clearTimeout(timer); clearInterval(poll); reject(new Error(`custos dev exited ${String(code)}:\n${output}`)); });
    });
    facts = JSON.parse(await readFile(path.join(dir, "dev.json"), "utf8")) as DevFacts;
  });
  afterAll(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it("prints the development banner and the journeys, and writes dev.json with DESIGN.md's fields", () => {
    expect(output).toContain("CUSTOS DEVELOPMENT MODE");
    expect(output).toContain("npx custos node fetch");
    expect(Object.keys(facts).sort()).toEqual(["base_url", "domain", "issuer", "kid", "node_id", "nsk_file", "operator_token", "secret_name"]);
  });

  it("shows the development warnings in /readyz", async () => {
    const ready = (await (await fetch(`${facts.base_url}/readyz`)).json()) as { status: string; warnings: string[] };
    expect(ready.status).toBe("ready");
    expect(ready.warnings.join(" ")).toContain("development mode");
  });

  it("journey 1: the seeded node fetches its secret and decrypts it with its NSK", async () => {
    const nsk = parseNsk(await readFile(facts.nsk_file, "utf8"));
    if (nsk === undefined) throw new Error("the NSK file does not hold an NSK");
    const response = await fetch(`${facts.base_url}/v1/nodes/${facts.node_id}/secrets/${facts.secret_name}`, {
      headers: { authorization: `Bearer ${formatNodeBearer(facts.kid, deriveBearerSecret(nsk))}` },
    });
    expect(response.status).toBe(200);
    const { jwe } = (await response.json()) as { jwe: string };
    expect((await unwrapOnNode(jwe, deriveWrapKey(nsk), facts.kid)).toString()).toBe("correct horse battery staple");
  });

  async function signIn(jar: CookieJar, strength: "password" | "mfa", query = "", account = "alice"): Promise<string> {
    const started = await fetchWithJar(new URL(`${facts.base_url}/auth/${facts.domain}/login${query}`), jar);
    expect(started.status).toBe(303);
    const callback = await driveSignIn(started.headers.get("location") ?? "", { account, strength, jar });
    expect((await fetchWithJar(callback, jar)).status).toBe(303);
    const session = (await (await fetchWithJar(new URL(`${facts.base_url}/auth/session`), jar)).json()) as { csrf_token: string };
    return session.csrf_token;
  }

  it("journey 2: a password-only admin is sent back to step up, signs in with the second factor, and gets the grant", async () => {
    const jar = createCookieJar();
    const grant = (csrf: string) =>
      fetchWithJar(new URL(`${facts.base_url}/v1/domains/${facts.domain}/grants`), jar, {
        method: "POST",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify({ node_id: facts.node_id, action: "ssh.login" }),
      });
    const weak = await grant(await signIn(jar, "password"));
    expect(weak.status).toBe(401);
    const challenge = (await weak.json()) as { code: string; sign_in_url: string };
    expect(challenge.code).toBe("step_up_required");
    const stepUp = new URL(challenge.sign_in_url, facts.base_url);
    const strong = await grant(await signIn(jar, "mfa", stepUp.search));
    expect(strong.status).toBe(201);
    expect(await strong.json()).toHaveProperty("grant");
  });

  it("journey 3: the auditor sees the HTTP report; after stopping custos dev, custos audit verify exits 0", async () => {
    const jar = createCookieJar();
    await signIn(jar, "password", "", "bob");
    const report = await fetchWithJar(new URL(`${facts.base_url}/v1/domains/${facts.domain}/audit/verify`), jar);
    expect(report.status).toBe(200);
    expect(await report.json()).toMatchObject({ chain: facts.domain, ok: true, failure: null });
    const platform = await fetch(`${facts.base_url}/v1/domains/platform/audit/verify`, { headers: { authorization: `Bearer ${facts.operator_token}` } });
    expect(await platform.json()).toMatchObject({ ok: true });

    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
    const verified = await runCli(["audit", "verify", facts.domain, "--json"], { CUSTOS_DATA_DIR: dir });
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true });
  });
});
