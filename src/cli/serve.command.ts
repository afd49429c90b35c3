import type { Command } from "commander";
import { stopSignal } from "./stop-signal.ts";
import { buildCustos, listen } from "../custos.ts";
import { loadConfig } from "../platform/config.ts";
import { installDriverFaultGuard } from "../platform/db/driver-fault-guard.ts";

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("Apply pending migrations and serve the HTTP API (CUSTOS_HOST:CUSTOS_PORT)")
    .action(async () => {
      const config = loadConfig();
      const custos = await buildCustos({ config });
      // A lost database connection fails the requests that used it, never the process.
      installDriverFaultGuard(custos.logger);
      const running = await listen(custos, config.host, config.port).catch(async (error: unknown) => {
        await custos.close();
        throw error;
      });
      custos.logger.info({ url: running.url, store: custos.db.driver }, "custos is serving");
      console.error(`custos serving on ${running.url} (store: ${custos.db.driver})`);
      await stopSignal();
      await running.close();
      await custos.close();
    });
}
