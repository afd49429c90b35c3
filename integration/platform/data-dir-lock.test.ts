import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DataDirectoryInUse, lockDataDirectory } from "../../src/platform/db/data-dir-lock.ts";

describe("the embedded data directory's lock", () => {
  const dirs: string[] = [];
  const scratch = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "custos-lock-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a directory locked by another live process, naming its pid and CUSTOS_DATA_DIR", () => {
    const dir = scratch();
    // The parent of this test process is alive for as long as the test runs.
    writeFileSync(path.join(dir, "custos.lock"), `${String(process.ppid)}\n`);
    expect(() => lockDataDirectory(dir)).toThrow(DataDirectoryInUse);
    expect(() => lockDataDirectory(dir)).toThrow(new RegExp(`pid ${String(process.ppid)}.*CUSTOS_DATA_DIR`));
  });

  it("takes over a lock left by a process that no longer exists", () => {
    const dir = scratch();
    const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString();
    writeFileSync(path.join(dir, "custos.lock"), `${gone}\n`);
    const lock = lockDataDirectory(dir);
    expect(readFileSync(path.join(dir, "custos.lock"), "utf8").trim()).toBe(String(process.pid));
    lock.release();
    expect(() => readFileSync(path.join(dir, "custos.lock"))).toThrow();
  });
});
