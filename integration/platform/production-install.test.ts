import { execFile, spawn } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, type CliResult } from "../support/cli.ts";

const DEVELOPMENT_ONLY = ["oidc-provider", "tsx", "typescript"];

/** `npm ls --omit=dev`: every package a production install holds, as paths under node_modules. */
async function productionPackagePaths(): Promise<string[]> {
  const { stdout } = await promisify(execFile)("npm", ["ls", "--omit=dev", "--all", "--parseable"], { cwd: REPO_ROOT });
  return stdout.split("\n").filter((line) => line.includes(`${path.sep}node_modules${path.sep}`));
}

/** The top-level node_modules entries (`name` or `@scope/name`) among those paths. */
function topLevelPackages(packagePaths: readonly string[]): string[] {
  const root = path.join(REPO_ROOT, "node_modules") + path.sep;
  const names = packagePaths
    .filter((each) => each.startsWith(root))
    .map((each) => each.slice(root.length).split(path.sep))
    .map((parts) => (parts[0]?.startsWith("@") === true ? `${parts[0]}/${parts[1] ?? ""}` : parts[0] ?? ""));
  return [...new Set(names)].filter((name) => name !== "" && !name.includes("node_modules"));
}

function run(cwd: string, args: readonly string[], env: Readonly<Record<string, string>>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", CUSTOS_LOG_LEVEL: "warn", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`${args.join(" ")} timed out:\n${stderr}`)); }, 60_000);
    child.on("error", reject);
    child.on("close", (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/**
 * Issue item 18: the production dependency set is minimal. The development OpenID provider
 * and the TypeScript loader are dev dependencies, and the compiled dist/ runs on plain Node.js
 * in an install that holds only the production packages.
 */
describe("a production install", () => {
  let productionPaths: string[];
  let installDir: string;

  beforeAll(async () => {
    productionPaths = await productionPackagePaths();
    // The shape of `npm ci --omit=dev` after a build: bin/, the compiled dist/ (copied, so
    // that it resolves packages from this directory's node_modules only), migrations,
    // policies, and node_modules holding the production packages and nothing else.
    installDir = await mkdtemp(path.join(os.tmpdir(), "custos-production-"));
    for (const entry of ["bin", "dist", "migrations", "policies", "package.json"]) {
      await cp(path.join(REPO_ROOT, entry), path.join(installDir, entry), { recursive: true });
    }
    for (const name of topLevelPackages(productionPaths)) {
      await mkdir(path.dirname(path.join(installDir, "node_modules", name)), { recursive: true });
      await symlink(path.join(REPO_ROOT, "node_modules", name), path.join(installDir, "node_modules", name), "dir");
    }
  });
  afterAll(async () => {
    await rm(installDir, { recursive: true, force: true });
  });

  it("declares neither oidc-provider nor tsx (nor typescript) as a runtime dependency", async () => {
    const manifest = JSON.parse(await readFile(path.join(REPO_ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    for (const name of DEVELOPMENT_ONLY) expect(Object.keys(manifest.dependencies)).not.toContain(name);
  });

  it("installs neither of them, not even transitively (npm ls --omit=dev)", () => {
    const installed = productionPaths.map((each) => path.basename(each));
    for (const name of DEVELOPMENT_ONLY) expect(installed).not.toContain(name);
    expect(installed).toContain("express");
  });

  it("runs bin/custos.mjs --help from dist/ with plain Node.js, no loader", async () => {
    const result = await run(installDir, ["bin/custos.mjs", "--help"], {});
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Usage: custos");
  });

  it("runs a command that opens the database and reads the migrations from dist/", async () => {
    const dataDir = path.join(installDir, "data");
    const result = await run(installDir, ["bin/custos.mjs", "migrate", "status"], { CUSTOS_DATA_DIR: dataDir });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  it("refuses custos dev in one clear line when the development provider is not installed", async () => {
    const dataDir = path.join(installDir, "dev-data");
    const result = await run(installDir, ["bin/custos.mjs", "dev"], { CUSTOS_DATA_DIR: dataDir, CUSTOS_PORT: "0" });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^custos: custos dev needs the development OpenID provider \(the oidc-provider package\)/) as unknown]);
    expect(result.stdout).toBe("");
  });
});
