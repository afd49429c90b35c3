import type { Command } from "commander";

/**
 * Registration only: everything `custos dev` runs (the server, the development provider, the
 * demo seed) is imported when the command runs, in dev.action.ts.
 */
export function registerDevCommand(program: Command): void {
  program
    .command("dev")
    .description("Run everything embedded, seed a demo domain, node and secret, and print how to try each journey")
    .action(async () => {
      const { runDev } = await import("./dev.action.ts");
      await runDev();
    });
}
