import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig, type Config } from "../../src/platform/config.ts";

/** Test configuration: silent logs, and a fresh data directory unless the test names one. */
export function testConfig(env: Readonly<Record<string, string>> = {}): Config {
  const dataDir = env.CUSTOS_DATA_DIR ?? mkdtempSync(path.join(os.tmpdir(), "custos-test-"));
  return loadConfig({ NODE_ENV: "test", CUSTOS_LOG_LEVEL: "silent", CUSTOS_DATA_DIR: dataDir, ...env });
}
