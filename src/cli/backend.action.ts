import { randomUUID } from "node:crypto";
import os from "node:os";
import { appendInTransaction } from "../audit/append-in-transaction.ts";
import { ConfigError, loadConfig, type Config, type OpenBaoConfig } from "../platform/config.ts";
import { isCustosError } from "../platform/errors.ts";
import { createLogger } from "../platform/logging.ts";
import { createOpenBaoBackend, type OpenBaoSecretBackend } from "../secrets/backends/openbao-backend.ts";
import { findWrappedMaterial } from "../secrets/backends/wrapped-material.ts";
import { rewrapStoredMaterial, type RewrapTally } from "../secrets/backends/openbao/rewrap-stored-material.ts";
import { PLATFORM_CHAIN } from "../platform/names.ts";
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

function describeTally(tally: RewrapTally, latest: number): string {
  const failed = tally.failed === 0 ? "" : `, ${String(tally.failed)} failed (${tally.firstFailure ?? "unknown cause"})`;
  return `${tally.what}: ${String(tally.rewrapped)} rewrapped to v${String(latest)}, ${String(tally.current)} already current${failed}`;
}

/**
 * custos backend rewrap: every stored ciphertext to the Transit key's newest version (the step
 * between `rotate` and raising min_decryption_version; docs/openbao.md). Recorded on the
 * platform audit chain; refused (exit status 1) when anything could not be rewrapped.
 */
export async function runBackendRewrap(): Promise<void> {
  await withDatabase(async (db, config) => {
    const openbao = requireOpenBao(config, "rewrap");
    const key = `${openbao.transitMount}/keys/${openbao.transitKey}`;
    const { tallies, latest } = await withOpenBao(config, openbao, async (bao) => {
      await bao.checkCapabilities("rewrap");
      const versions = await bao.transitKeyVersions();
      console.error(`rewrapping to ${key} version ${String(versions.latest)} (min_decryption_version ${String(versions.minDecryption)})`);
      const done = await rewrapStoredMaterial({
        db,
        auditKeyFile: config.auditKeyFile,
        bao,
        latest: versions.latest,
        progress: (tally) => {
          console.error(describeTally(tally, versions.latest));
        },
      });
      return { tallies: done, latest: versions.latest };
    });
    const failed = tallies.reduce((sum, tally) => sum + tally.failed, 0);
    await db.transaction((tx) =>
      appendInTransaction(tx, {
        chain: PLATFORM_CHAIN, actor: `operator:${os.userInfo().username}`, action: "backend.rewrap", resource: `transit-key:${key}`,
        decision: "recorded", reason: failed === 0 ? "rewrapped" : "partially_rewrapped", requestId: `cli-${randomUUID()}`,
        details: { latest_version: latest, counts: tallies.map(({ what, rewrapped, current, failed: n }) => ({ what, rewrapped, current, failed: n })) },
      }),
    );
    if (failed > 0) {
      throw new CommandRefused(`${String(failed)} ciphertext(s) could not be rewrapped (see above); nothing else changed for them. When the cause is "too old", lower min_decryption_version to the oldest version in use, run rewrap again, then raise it`);
    }
    const rewrapped = tallies.reduce((sum, tally) => sum + tally.rewrapped, 0);
    console.error(`done: ${String(rewrapped)} rewrapped; everything is at ${key} version ${String(latest)}. min_decryption_version may now be raised to ${String(latest)} (recorded on the platform audit chain)`);
  });
}
