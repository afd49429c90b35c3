import { InvalidArgumentError, type Command } from "commander";
import { domainArgument, URL_OPTION } from "./admin.commands.ts";

function timeoutSeconds(value: string): number {
  const seconds = Number(value);
  if (!/^\d{1,5}$/.test(value) || seconds < 10 || seconds > 3600) throw new InvalidArgumentError("a whole number of seconds from 10 to 3600");
  return seconds;
}

/**
 * Registration only: `custos login`, `whoami` and `logout`. The browser flow (openid-client)
 * is imported when a subcommand runs (login.action.ts).
 */
export function registerLoginCommands(program: Command): void {
  program
    .command("login")
    .description("Sign in to a domain as an admin or auditor in the browser (PKCE, loopback redirect); admin commands then use this sign-in")
    .argument("<domain>", "the domain id", domainArgument)
    .option(...URL_OPTION)
    .option("--no-browser", "only print the sign-in URL; do not open a browser")
    .option("--timeout <seconds>", "how long to wait for the browser to come back", timeoutSeconds, 300)
    .action(async (domain: string, options: { url: string; browser: boolean; timeout: number }) => {
      const { runLogin } = await import("./login.action.ts");
      await runLogin(domain, options);
    });
  program
    .command("whoami")
    .description("Show the stored sign-in (subject, acr, amr, auth_time, expiry) for a domain, or every stored sign-in")
    .argument("[domain]", "the domain id", domainArgument)
    .option(...URL_OPTION)
    .action(async (domain: string | undefined, options: { url: string }) => {
      const { runWhoami } = await import("./login.action.ts");
      await runWhoami(domain, options);
    });
  program
    .command("logout")
    .description("Forget the stored sign-in for a domain")
    .argument("<domain>", "the domain id", domainArgument)
    .option(...URL_OPTION)
    .action(async (domain: string, options: { url: string }) => {
      const { runLogout } = await import("./login.action.ts");
      await runLogout(domain, options);
    });
}
