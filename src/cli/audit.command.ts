import { InvalidArgumentError, type Command } from "commander";
import { PLATFORM_CHAIN, isDomainId } from "../platform/names.ts";

function chainArgument(value: string): string {
  if (value !== PLATFORM_CHAIN && !isDomainId(value)) {
    throw new InvalidArgumentError("a domain id (a-z, 0-9, '-', up to 63 characters) or 'platform'");
  }
  return value;
}

/** Registration only: the store, the verifier and the audit key are imported when a subcommand runs (audit.action.ts). */
export function registerAuditCommand(program: Command): void {
  const audit = program
    .command("audit")
    .description("Verify, export and checkpoint a domain's audit chain (same configuration as the server); publish and rotate the audit keys");

  audit
    .command("verify")
    .description(
      "Stream the chain and check every link; exit 0 only when everything holds. " +
        "With --keys, verify a mirror or a checkpoint offline with public keys only (no database, no backend, no key file)",
    )
    .argument("[domain]", "the domain id, or 'platform' for the system chain (optional with --keys: the mirror names it)", chainArgument)
    .option("--checkpoint <file>", "a signed checkpoint kept outside the database")
    .option("--mirror <dir>", "a mirror written by `custos audit export`")
    .option("--keys <jwks>", "a JWK set file, or the URL of GET /v1/audit/keys: verify offline with these public keys")
    .option("--json", "print the report as JSON")
    .action(async (chain: string | undefined, options: { checkpoint?: string; mirror?: string; keys?: string; json?: boolean }) => {
      const { runAuditVerify } = await import("./audit.action.ts");
      await runAuditVerify(chain, options);
    });

  audit
    .command("export")
    .description("Append the chain's new rows to a mirror directory (JSON lines and a signed manifest)")
    .argument("<domain>", "the domain id, or 'platform'", chainArgument)
    .requiredOption("--out <dir>", "the mirror directory (created if missing)")
    .action(async (chain: string, options: { out: string }) => {
      const { runAuditExport } = await import("./audit.action.ts");
      await runAuditExport(chain, options);
    });

  audit
    .command("checkpoint")
    .description("Sign the chain's current head with the audit key and print it as JSON (keep it outside the database)")
    .argument("<domain>", "the domain id, or 'platform'", chainArgument)
    .action(async (chain: string) => {
      const { runAuditCheckpoint } = await import("./audit.action.ts");
      await runAuditCheckpoint(chain);
    });

  audit
    .command("keys")
    .description("Print the public audit keys, active and retired, with their validity (GET /v1/audit/keys); --json prints the JWK set to verify with")
    .option("--url <base>", "ask a running server instead of the store")
    .option("--json", "print the JWK set")
    .action(async (options: { url?: string; json?: boolean }) => {
      const { runAuditKeys } = await import("./audit.action.ts");
      await runAuditKeys(options);
    });

  audit
    .command("rotate-key")
    .description("Replace the audit signing key: the old key is retired and stays published, so what it signed still verifies (recorded on the platform chain)")
    .action(async () => {
      const { runAuditRotateKey } = await import("./audit.action.ts");
      await runAuditRotateKey();
    });
}
