import { Command, CommanderError } from "commander";
import { StepUpPolicyError } from "../access/step-up-policy.ts";
import { ConfigError } from "../platform/config.ts";
import { RateLimitPolicyError } from "../secrets/rate-limit-policy.ts";
import { MigrationError } from "../platform/db/migrate.ts";
import { registerAdminCommands } from "./admin.commands.ts";
import { CommandRefused } from "./api-client.ts";
import { registerAuditCommand } from "./audit.command.ts";
import { registerBackendCommand } from "./backend.command.ts";
import { registerDevCommand } from "./dev.command.ts";
import { registerMigrateCommand } from "./migrate.command.ts";
import { registerNodeCommand } from "./node.command.ts";
import { registerServeCommand } from "./serve.command.ts";

/** Exit statuses: 0 success, 1 a refusal or failure, 2 usage or configuration. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

const program = new Command()
  .name("custos")
  .description("Identity, step-up and secrets control plane.\nConfiguration comes from the environment; see README.md.")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride();

registerServeCommand(program);
registerDevCommand(program);
registerMigrateCommand(program);
registerAuditCommand(program);
registerNodeCommand(program);
registerAdminCommands(program);
registerBackendCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
  } else if (error instanceof ConfigError || error instanceof StepUpPolicyError || error instanceof RateLimitPolicyError) {
    console.error(`custos: ${error.message}`);
    process.exitCode = EXIT_USAGE;
  } else if (error instanceof MigrationError || error instanceof CommandRefused) {
    console.error(`custos: ${error.message}`);
    process.exitCode = EXIT_FAILURE;
  } else {
    console.error(`custos: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = EXIT_FAILURE;
  }
  // A command that failed half-way may leave handles open (a pool, a worker, a timer): the
  // answer has been given, so the process ends now instead of hanging on them.
  process.exit();
}
