import { createServer as createNetServer, type AddressInfo } from "node:net";
import { spawn } from "node:child_process";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CUSTOS_BIN, REPO_ROOT, runCli, runCliProcess } from "../support/cli.ts";
import { seededDataDir } from "../support/stores.ts";

describe("the custos command", () => {
  it("explains itself with --help", async () => {
    const result = await runCli(["--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("serve");
    expect(result.stdout).toContain("migrate");
  });

  it("refuses CUSTOS_PORT=abc at start-up with one line naming the variable", async () => {
    const result = await runCli(["serve"], { CUSTOS_PORT: "abc" });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toEqual([expect.stringContaining("CUSTOS_PORT") as unknown]);
  });

  it("refuses CUSTOS_OIDC_LEEWAY_SECONDS=500 at start-up naming the variable", async () => {
    const result = await runCli(["serve"], { CUSTOS_OIDC_LEEWAY_SECONDS: "500" });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("CUSTOS_OIDC_LEEWAY_SECONDS");
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  });

  it.each([
    ["step-up.yaml", "defaults:\n  acr: []\n  amr_any: [otp]\n  max_age: 300\n", /step-up\.yaml: defaults\.acr/],
    ["rate-limits.yaml", "secret_reads:\n  per_node: { limit: 0, window_seconds: 60 }\n  per_domain: { limit: 600, window_seconds: 60 }\n", /rate-limits\.yaml: secret_reads\.per_node\.limit/],
  ])("refuses an invalid %s at start-up, naming the file and the key", async (file, content, message) => {
    const policies = await mkdtemp(path.join(os.tmpdir(), "custos-policies-"));
    try {
      await cp(path.join(REPO_ROOT, "policies"), policies, { recursive: true });
      await writeFile(path.join(policies, file), content);
      const dataDir = await seededDataDir("custos-data-");
      const result = await runCli(["serve"], { CUSTOS_POLICIES_DIR: policies, CUSTOS_DATA_DIR: dataDir, CUSTOS_PORT: "0" });
      await rm(dataDir, { recursive: true, force: true });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
    } finally {
      await rm(policies, { recursive: true, force: true });
    }
  });

  it("refuses an unknown command with a usage error", async () => {
    const result = await runCli(["frobnicate"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown command");
  });

  it("serves with embedded defaults and answers /healthz", async () => {
    const dataDir = await seededDataDir("custos-serve-");
    const child = spawn(process.execPath, [CUSTOS_BIN, "serve"], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", CUSTOS_DATA_DIR: dataDir, CUSTOS_PORT: "0", CUSTOS_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let stderr = "";
        child.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString();
          const match = /serving on (http:\/\/\S+)/.exec(stderr);
          if (match?.[1] !== undefined) resolve(match[1]);
        });
        child.on("exit", (code) => { reject(new Error(`custos serve exited with ${code}: ${stderr}`)); });
      });
      const response = await fetch(`${url}/healthz`);
      expect(response.status).toBe(200);
      expect(response.headers.get("x-request-id")).not.toBeNull();
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it.each(["serve", "dev"])("custos %s on a port already taken exits 1 at once, naming the port and CUSTOS_PORT", async (command) => {
    const dataDir = await seededDataDir("custos-busy-");
    const holder = createNetServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const { port } = holder.address() as AddressInfo;
    try {
      // serve in this process; dev as a real process, bounded: one that hangs instead of
      // exiting fails this test by timing out.
      const env = { CUSTOS_DATA_DIR: dataDir, CUSTOS_PORT: String(port) };
      const result = command === "dev" ? await runCliProcess([command], env, 45_000) : await runCli([command], env);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`127.0.0.1:${String(port)}`);
      expect(result.stderr).toContain("already in use");
      expect(result.stderr).toContain("CUSTOS_PORT");
    } finally {
      await new Promise((resolve) => holder.close(resolve));
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
