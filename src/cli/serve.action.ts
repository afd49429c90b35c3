import { endBySignal, stopSignal } from "./stop-signal.ts";
import { buildCustos, listen } from "../custos.ts";
import { loadConfig, type Config } from "../platform/config.ts";
import { installDriverFaultGuard } from "../platform/db/driver-fault-guard.ts";

/**
 * What an operator must know about a `custos serve` that runs on defaults: each embedded or
 * development component it chose because nothing else was configured. Logged at start-up and
 * listed in /readyz's `warnings`.
 */
export function defaultComponentWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.databaseUrl === undefined) warnings.push(`embedded database: PGlite under ${config.dataDir} (set DATABASE_URL for a PostgreSQL server)`);
  if (config.spicedb === undefined) warnings.push("embedded SpiceDB engine in process: one replica only (set SPICEDB_ENDPOINT for a SpiceDB server)");
  if (config.events.nats === undefined) warnings.push("in-process event bus: events reach streams open on this replica only (set NATS_URL for NATS JetStream)");
  if (config.openbao === undefined) warnings.push("development secret backend: the local backend under the data directory, not for production (set OPENBAO_ADDR for OpenBao)");
  return warnings;
}

/** How long a stop may take before the process exits without finishing it. */
const SHUTDOWN_BOUND_MS = 20_000;

export async function runServe(): Promise<void> {
  const config = loadConfig();
  const warnings = defaultComponentWarnings(config);
  const custos = await buildCustos({ config, warnings });
  // A lost database connection fails the requests that used it, never the process.
  installDriverFaultGuard(custos.logger);
  const running = await listen(custos, config.host, config.port).catch(async (error: unknown) => {
    await custos.close();
    throw error;
  });
  // Signals are caught before "serving" is announced: whoever waits for that line (a
  // supervisor, a test, the launcher's parent) may signal at once, and a SIGINT that arrived
  // before the listener would end the process without closing.
  const stopped = stopSignal();
  for (const warning of warnings) custos.logger.warn(warning);
  custos.logger.info({ url: running.url, store: custos.db.driver }, "custos is serving");
  console.error(`custos serving on ${running.url} (store: ${custos.db.driver})`);
  const signal = await stopped;
  const stopping = Date.now();
  // A shutdown that hangs (a store that never answers) must not leave the process up: a
  // supervisor waiting for it would wait forever.
  setTimeout(() => {
    custos.logger.error({ signal, bound_ms: SHUTDOWN_BOUND_MS }, "custos did not stop within its bound; exiting");
    process.exit(1);
  }, SHUTDOWN_BOUND_MS).unref();
  await running.close();
  await custos.close();
  console.error(`custos stopped (${signal}) in ${String(Date.now() - stopping)} ms`);
  endBySignal(signal);
}
