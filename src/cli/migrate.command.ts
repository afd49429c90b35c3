import type { Command } from "commander";

/** Registration only: the database drivers are imported when a subcommand runs (migrate.action.ts). */
export function registerMigrateCommand(program: Command): void {
  const migrate = program
    .command("migrate")
    .description("Apply, reverse or list schema migrations (DATABASE_URL, or PGlite under CUSTOS_DATA_DIR)");

  migrate
    .command("up")
    .description("Apply every pending migration, each in its own transaction")
    .action(async () => {
      const { runMigrateUp } = await import("./migrate.action.ts");
      await runMigrateUp();
    });

  migrate
    .command("down")
    .description("Reverse the newest applied migration (refused, SQLSTATE 0A000, when it would destroy data or guards the audit log)")
    .option("--allow-data-loss", "reverse it even though it drops tables or columns that hold data (recorded on the platform audit chain)")
    .action(async (options: { allowDataLoss?: boolean }) => {
      const { runMigrateDown } = await import("./migrate.action.ts");
      await runMigrateDown(options);
    });

  migrate
    .command("status")
    .description("List migrations and whether each is applied, pending or edited since")
    .option("--json", "print the list as JSON")
    .action(async (options: { json?: boolean }) => {
      const { runMigrateStatus } = await import("./migrate.action.ts");
      await runMigrateStatus(options);
    });
}
