import { loadAgentConfig } from "../agent/agent-config.ts";
import { createAgentLog, errorFields } from "../agent/agent-log.ts";
import { readNskFile } from "../agent/node-client.ts";
import { runAgent } from "../agent/run-agent.ts";
import { watchEvents } from "../agent/watch-events.ts";
import { stopSignal } from "./stop-signal.ts";

/**
 * `custos node agent` and `custos node watch`. Both stop on SIGTERM or SIGINT by closing the
 * stream and return normally, so the process exits 0 (a supervisor's stop is not a failure).
 * Start-up refusals (a bad config: exit 2; a corrupt state file, a pin that does not match:
 * exit 1) are thrown to the CLI, which prints them.
 */

function abortOnStop(): AbortController {
  const controller = new AbortController();
  void stopSignal().then(() => { controller.abort(); });
  return controller;
}

export async function runNodeAgent(options: { config: string; once?: boolean; trust?: boolean }): Promise<void> {
  const config = loadAgentConfig(options.config);
  const log = createAgentLog();
  const controller = abortOnStop();
  try {
    process.exitCode = await runAgent({ config, log, signal: controller.signal, once: options.once === true, trust: options.trust === true });
  } catch (error) {
    log.error("agent stopped by an error", errorFields(error));
    throw error;
  }
}

export async function runNodeWatch(options: { url: string; domain: string; nodeId: string; kid: string; nskFile: string; eventKeyThumbprint?: string; stateDir?: string; leeway: number }): Promise<void> {
  const nsk = await readNskFile(options.nskFile);
  const controller = abortOnStop();
  await watchEvents({
    node: { url: options.url, nodeId: options.nodeId, kid: options.kid, nsk },
    domain: options.domain,
    eventKeyThumbprint: options.eventKeyThumbprint,
    stateDir: options.stateDir,
    leewaySeconds: options.leeway,
    log: createAgentLog(),
    print: (line) => { process.stdout.write(line); },
    signal: controller.signal,
  });
}
