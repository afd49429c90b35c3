import { loadConfig, type Config } from "../../src/platform/config.ts";

/** A valid test configuration, with overrides; the same parser production uses. */
export function testConfig(env: Readonly<Record<string, string>> = {}): Config {
  return loadConfig({ NODE_ENV: "test", CUSTOS_LOG_LEVEL: "silent", ...env });
}
