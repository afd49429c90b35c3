import { ConfigError, loadConfig, type Config, type OpenBaoConfig } from "../platform/config.ts";
import { isCustosError } from "../platform/errors.ts";
import { createLogger } from "../platform/logging.ts";
import { createOpenBaoBackend, type OpenBaoSecretBackend } from "../secrets/backends/openbao-backend.ts";
import { findWrappedMaterial } from "../secrets/backends/wrapped-material.ts";
import { CommandRefused } from "./api-client.ts";
import { withDatabase } from "./cli-database.ts";

function requireOpenBao(config: Config, command: string): OpenBaoConfig {
  if (config.openbao === undefined) throw new ConfigError("OPENBAO_ADDR", `is required by custos backend ${command} (the local backend needs no set-up)`);
  return config.openbao;
}

/** Runs `work` against an authenticated adapter; a backend refusal becomes a one-line CommandRefused naming its cause. */
async function withOpenBao<T>(config: Config, openbao: OpenBaoConfig, work: (backend: OpenBaoSecretBackend) => Promise<T>): Promise<T> {
  const backend = createOpenBaoBackend(openbao, { log: createLogger({ level: config.logLevel }) });
  try {
    await backend.start();
    return await work(backend);
  } catch (error) {
    if (isCustosError(error)) {
      const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
      throw new CommandRefused(`${error.detail ?? error.message}${cause}`);
    }
    throw error;
  } finally {
    await backend.close();
  }
}

/** custos backend init: create the Transit key once, refused while wrapped material exists. */
export async function runBackendInit(): Promise<void> {
  await withDatabase(async (db, config) => {
    const openbao = requireOpenBao(config, "init");
    const wrapped = await findWrappedMaterial(db, config.auditKeyFile);
    const outcome = await withOpenBao(config, openbao, async (bao) => {
      await bao.checkCapabilities("init");
      return bao.initTransitKey(wrapped);
    });
    const key = `${openbao.transitMount}/keys/${openbao.transitKey}`;
    console.error(outcome === "created" ? `created Transit key ${key} (aes256-gcm96, derived)` : `Transit key ${key} exists and is fit for wrapping; nothing to do`);
  });
}

/** custos backend check: what the server checks at start-up and in /readyz. */
export async function runBackendCheck(): Promise<void> {
  const config = loadConfig();
  const openbao = requireOpenBao(config, "check");
  await withOpenBao(config, openbao, async (bao) => {
    await bao.checkCapabilities("serve");
    await bao.checkKvMount();
    await bao.checkTransitKey();
    await bao.readiness.check();
  });
  console.error(`OpenBao at ${openbao.addr}: authenticated (${openbao.auth.method}), Transit key ${openbao.transitMount}/keys/${openbao.transitKey} fit, ready`);
}
