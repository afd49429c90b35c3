import type { Command } from "commander";

/**
 * Registration only: the server (express, the SpiceDB engine, PGlite, …) is imported when the
 * command runs, so that `custos --help` and the other commands never pay for it.
 */
export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("Apply pending migrations and serve the HTTP API (CUSTOS_HOST:CUSTOS_PORT)")
    .action(async () => {
      const { runServe } = await import("./serve.action.ts");
      await runServe();
    });
}
