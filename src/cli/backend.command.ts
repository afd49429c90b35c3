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
    .command("rewrap")
    .description("Rewrap every stored ciphertext (node keys, grant signing keys, the audit key file) to the Transit key's newest version, after a rotation")
    .action(async () => {
      const { runBackendRewrap } = await import("./backend.action.ts");
      await runBackendRewrap();
    });

  backend
    .command("check")
    .description("Authenticate, check the Transit key and the token as the server would at start-up and in /readyz")
    .action(async () => {
      const { runBackendCheck } = await import("./backend.action.ts");
      await runBackendCheck();
    });
}
