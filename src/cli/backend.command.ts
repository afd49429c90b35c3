import type { Command } from "commander";

/** Registration only: the OpenBao adapter and the database are imported when a subcommand runs (backend.action.ts). */
export function registerBackendCommand(program: Command): void {
  const backend = program.command("backend").description("Set up and check the OpenBao secret backend (same configuration as the server)");

  backend
    .command("init")
    .description("Create the Transit wrapping key on a first install (refused while wrapped key material exists); an existing fit key is left alone")
    .action(async () => {
      const { runBackendInit } = await import("./backend.action.ts");
      await runBackendInit();
    });

  backend
    .command("check")
    .description("Authenticate, check the Transit key and the token as the server would at start-up and in /readyz")
    .action(async () => {
      const { runBackendCheck } = await import("./backend.action.ts");
      await runBackendCheck();
    });
}
