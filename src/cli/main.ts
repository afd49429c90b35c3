import { readFileSync } from "node:fs";
import path from "node:path";
import { Command, CommanderError } from "commander";
import { PACKAGE_ROOT } from "../package-paths.ts";
import { registerAdminCommands } from "./admin.commands.ts";
import { registerAuditCommand } from "./audit.command.ts";
import { registerBackendCommand } from "./backend.command.ts";
import { registerDevCommand } from "./dev.command.ts";
import { registerLoginCommands } from "./login.command.ts";
import { registerMigrateCommand } from "./migrate.command.ts";
import { registerNodeCommand } from "./node.command.ts";
import { registerServeCommand } from "./serve.command.ts";

/**
 * The entry point stays cheap: every command registers its name, options and description
 * here, and imports its implementation (express, the SpiceDB engine, PGlite, jose, …) only
 * when it runs. `custos --help` and `custos --version` load nothing else.
 */

/** Exit statuses: 0 success, 1 a refusal or failure, 2 usage or configuration. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/**
 * Errors that mean "usage or configuration", by class name: matching on the classes would
 * import the modules that define them (yaml, zod, …) on every run.
 */
const USAGE_ERRORS = new Set(["ConfigError", "StepUpPolicyError", "RateLimitPolicyError", "CommandUsageError"]);

function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, "package.json"), "utf8")) as { version?: unknown };
  return typeof manifest.version === "string" ? manifest.version : "unknown";
}

const program = new Command()
  .name("custos")
  .description("Identity, step-up and secrets control plane.\nConfiguration comes from the environment; see README.md.")
  .version(packageVersion(), "-V, --version", "print the version of custos")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride();

registerServeCommand(program);
registerDevCommand(program);
registerMigrateCommand(program);
registerAuditCommand(program);
registerNodeCommand(program);
registerAdminCommands(program);
registerLoginCommands(program);
registerBackendCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
  } else {
    const name = error instanceof Error ? error.name : "";
    console.error(`custos: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = USAGE_ERRORS.has(name) ? EXIT_USAGE : EXIT_FAILURE;
  }
  // A command that failed half-way may leave handles open (a pool, a worker, a timer): the
  // answer has been given, so the process ends now instead of hanging on them.
  process.exit();
}
