import { runCliOutcome } from "./run-cli.ts";

/**
 * The `custos` executable: runs the command, then sets the exit status. A command that
 * failed half-way may leave handles open (a pool, a worker, a timer): the answer has been
 * given, so the process ends now instead of hanging on them. A command that succeeded ends
 * when its work is done (serve and dev end by their stop signal).
 */
const outcome = await runCliOutcome(process.argv.slice(2));
process.exitCode = outcome.exitCode;
if (outcome.failed) process.exit();
