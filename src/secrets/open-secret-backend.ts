import type { Config } from "../platform/config.ts";
import { createLogger } from "../platform/logging.ts";
import { openLocalBackend } from "./backends/local-backend.ts";
import { createOpenBaoBackend, type OpenBaoBackendOptions } from "./backends/openbao-backend.ts";
import type { SecretBackend } from "./secret-backend.ts";

/**
 * Picks the adapter from configuration, for the composition root: OpenBao when OPENBAO_ADDR
 * is set (authenticating per OPENBAO_AUTH, checking the token's policy grants what the server
 * needs, that the KV mount is version 2, and that its Transit key exists and is fit;
 * never creating it: that is `custos backend init`), the local development backend otherwise — which itself refuses
 * NODE_ENV=production. Throws secret_backend_unavailable when OpenBao cannot be reached or
 * refuses the credentials at start-up.
 */
export async function openSecretBackend(
  config: Pick<Config, "openbao" | "dataDir" | "nodeEnv"> & Partial<Pick<Config, "logLevel">>,
  options: OpenBaoBackendOptions = {},
): Promise<SecretBackend> {
  if (config.openbao === undefined) {
    return openLocalBackend({ dataDir: config.dataDir, nodeEnv: config.nodeEnv });
  }
  const backend = createOpenBaoBackend(config.openbao, {
    log: createLogger({ level: config.logLevel ?? "info" }),
    ...options,
  });
  try {
    await backend.start();
    await backend.checkCapabilities("serve");
    await backend.checkKvMount();
    await backend.checkTransitKey();
  } catch (error) {
    await backend.close();
    throw error;
  }
  return backend;
}
