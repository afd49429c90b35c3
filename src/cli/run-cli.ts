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
 * The program, built fresh for every run (commander keeps parsed options on the command
 * objects, so a second run on the same objects would see the first one's), and run without
 * ever ending the process: main.ts decides that, and tests run commands in-process.
 *
 * The entry point stays cheap: every command registers its name, options and description
 * here, and imports its implementation (express, the SpiceDB engine, PGlite, jose, …) only
 * when it runs. `custos --help` and `custos --version` load nothing else.
 */

/** Exit statuses: 0 success, 1 a refusal or failure, 2 usage or configuration. */
export const EXIT_SUCCESS = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/**
 * Errors that mean "usage or configuration", by class name: matching on the classes would
 * import the modules that define them (yaml, zod, …) on every run.
 */
const USAGE_ERRORS = new Set(["ConfigError", "StepUpPolicyError", "RateLimitPolicyError", "CommandUsageError"]);

/** Where commander's own output (help, usage errors) and the final error line go. */
export interface CliIo {
  readonly writeOut: (text: string) => void;
  readonly writeErr: (text: string) => void;
}

const PROCESS_IO: CliIo = {
  writeOut: (text) => { process.stdout.write(text); },
  writeErr: (text) => { process.stderr.write(text); },
};

export interface CliOutcome {
  readonly exitCode: number;
  /** True when the command threw: it may have left handles open (a pool, a worker, a timer). */
  readonly failed: boolean;
}

function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, "package.json"), "utf8")) as { version?: unknown };
  return typeof manifest.version === "string" ? manifest.version : "unknown";
}

export function buildProgram(io: CliIo = PROCESS_IO): Command {
  const program = new Command()
    .name("custos")
    .description("Identity, step-up and secrets control plane.\nConfiguration comes from the environment; see README.md.")
    .version(packageVersion(), "-V, --version", "print the version of custos")
    .configureOutput({ writeOut: io.writeOut, writeErr: io.writeErr })
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
  return program;
}

function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_SUCCESS : EXIT_USAGE;
  const name = error instanceof Error ? error.name : "";
  return USAGE_ERRORS.has(name) ? EXIT_USAGE : EXIT_FAILURE;
}

/** What a command left in process.exitCode (Node accepts a numeric string there too). */
function statusSetByCommand(): number {
  const code: unknown = process.exitCode;
  const status = Number(code ?? EXIT_SUCCESS);
  return Number.isInteger(status) ? status : EXIT_FAILURE;
}

/**
 * Runs `custos <argv>` (the arguments after the program name) and says how it ended. A
 * command reports a non-zero status without throwing by setting process.exitCode (as `audit
 * verify` does for a broken chain): it is read, and put back as it was, so a run leaves the
 * hosting process's status alone.
 */
export async function runCliOutcome(argv: readonly string[], io: CliIo = PROCESS_IO): Promise<CliOutcome> {
  const previous = process.exitCode;
  process.exitCode = undefined;
  try {
    await buildProgram(io).parseAsync([...argv], { from: "user" });
    return { exitCode: statusSetByCommand(), failed: false };
  } catch (error) {
    if (!(error instanceof CommanderError)) io.writeErr(`custos: ${error instanceof Error ? error.message : String(error)}\n`);
    return { exitCode: exitCodeOf(error), failed: !(error instanceof CommanderError) || error.exitCode !== 0 };
  } finally {
    process.exitCode = previous;
  }
}

/** Runs `custos <argv>` in this process and resolves to its exit status; never exits. */
export async function runCli(argv: readonly string[], io: CliIo = PROCESS_IO): Promise<number> {
  return (await runCliOutcome(argv, io)).exitCode;
}
