import { randomBytes } from "node:crypto";
import path from "node:path";
import { endBySignal, stopSignal } from "./stop-signal.ts";
import { buildCustos, listen } from "../custos.ts";
import { DEMO_ADMIN, DEMO_AUDITOR, DEMO_CLIENT_ID, DEMO_DOMAIN, seedDemo, type DevFacts } from "../dev/seed-demo.ts";
import { ConfigError, loadConfig } from "../platform/config.ts";

/** Settings `custos dev` ignores: it always runs everything embedded. */
const EXTERNAL_SETTINGS = ["DATABASE_URL", "SPICEDB_ENDPOINT", "SPICEDB_TOKEN", "OPENBAO_ADDR", "OPENBAO_TOKEN", "NATS_URL", "NATS_STREAM", "NATS_SUBJECT_PREFIX", "EVENTS_RETENTION_BYTES"];

export const DEV_WARNINGS = [
  "development mode: plain HTTP, never for production",
  "embedded components: PGlite, the SpiceDB engine in process, the local secret backend",
  "a development OpenID provider with demo accounts signs admins in",
];

/** `custos dev` was asked for in an install without dev dependencies (a production install). */
export class DevProviderNotInstalled extends Error {
  constructor(options: { cause: unknown }) {
    super(
      "custos dev needs the development OpenID provider (the oidc-provider package), a dev dependency this install omits: " +
        "install with dev dependencies (npm ci) to use custos dev; production runs custos serve",
      options,
    );
    this.name = "DevProviderNotInstalled";
  }
}

function isModuleNotFound(error: unknown): boolean {
  return error instanceof Error && "code" in error && error.code === "ERR_MODULE_NOT_FOUND";
}

/**
 * The development provider, loaded only by `custos dev`: oidc-provider is a dev dependency,
 * absent from a production install, and nothing else may load it. Checked before anything
 * starts so that its absence is one clear line, not a half-started server.
 */
async function loadDevProvider(): Promise<typeof import("../dev/provider/dev-provider.ts")> {
  const { importOidcProvider } = await import("../dev/provider/quiet-import.ts");
  try {
    await importOidcProvider();
  } catch (error) {
    if (isModuleNotFound(error)) throw new DevProviderNotInstalled({ cause: error });
    throw error;
  }
  return import("../dev/provider/dev-provider.ts");
}

export interface DevBannerFacts {
  readonly url: string;
  readonly issuer: string;
  readonly factsFile: string;
  readonly nskFile: string;
  readonly facts: Pick<DevFacts, "node_id" | "kid" | "secret_name">;
  readonly dataDir: string;
}

/** What `custos dev` prints once ready: the console first, then the three journeys. */
export function devBanner({ url, issuer, factsFile, nskFile, facts, dataDir }: DevBannerFacts): string {
  return [
    "",
    "  ╔══ CUSTOS DEVELOPMENT MODE ══ plain HTTP · embedded components · development OpenID provider · never for production",
    `  ║ OPEN      ${url}/console/   the web console: sign in to domain ${DEMO_DOMAIN} as ${DEMO_ADMIN} (admin) or ${DEMO_AUDITOR} (auditor)`,
    `  ║ API       ${url}   (the same facts for scripts: ${factsFile})`,
    `  ║ provider  ${issuer}   accounts: ${DEMO_ADMIN} (admin), ${DEMO_AUDITOR} (auditor)`,
    "  ║",
    "  ║ 1. a node fetches its secret:",
    `  ║    npx custos node fetch --url ${url} --node-id ${facts.node_id} --kid ${facts.kid} --nsk-file ${nskFile} ${facts.secret_name}`,
    `  ║ 2. an admin enrolls a node: in the console as ${DEMO_ADMIN}, "password only"; step-up asks for the one-time code:`,
    `  ║    ${url}/console/nodes`,
    `  ║    or on the command line: npx custos login ${DEMO_DOMAIN} --url ${url}   then   npx custos node enroll ${DEMO_DOMAIN} web-1 --url ${url} --nsk-file web-1.nsk`,
    `  ║ 3. an auditor verifies the chain: in the console as ${DEMO_AUDITOR}, "Verify now":`,
    `  ║    ${url}/console/audit`,
    `  ║    or: npx custos audit verify ${DEMO_DOMAIN}      (stop custos dev first: the embedded database is single-process)`,
    `  ╚══ Ctrl-C stops it; data stays in ${dataDir}`,
    "",
  ].join("\n");
}

export async function runDev(): Promise<void> {
  if (process.env.NODE_ENV === "production") {
    throw new ConfigError("NODE_ENV", "is production: custos dev is for development only; use custos serve");
  }
  const env: Record<string, string | undefined> = { ...process.env, NODE_ENV: "development" };
  const ignored = EXTERNAL_SETTINGS.filter((name) => env[name] !== undefined && env[name] !== "");
  for (const name of ignored) env[name] = undefined;
  const { startDevProvider } = await loadDevProvider();
  const operatorToken = env.CUSTOS_OPERATOR_TOKEN ?? randomBytes(32).toString("base64url");
  const config = loadConfig({ ...env, CUSTOS_OPERATOR_TOKEN: operatorToken });

  // Ready means the journeys work: not before the demo is seeded and dev.json written.
  let seeded = false;
  const demoSeeded = {
    name: "demo_seed",
    check: () => (seeded ? Promise.resolve() : Promise.reject(new Error("the demo is still being seeded"))),
  };
  const custos = await buildCustos({ config, warnings: DEV_WARNINGS, readiness: [demoSeeded] });
  const running = await listen(custos, config.host, config.port).catch(async (error: unknown) => {
    await custos.close();
    throw error;
  });
  const provider = await startDevProvider({
    host: "127.0.0.1",
    port: 0,
    clients: [{ client_id: DEMO_CLIENT_ID, redirect_uris: [`${running.url}/auth/${DEMO_DOMAIN}/callback`] }],
    accounts: [
      { id: DEMO_ADMIN, name: "Alice", role: "demo admin" },
      { id: DEMO_AUDITOR, name: "Bob", role: "demo auditor" },
    ],
    nodeEnv: "development",
  });
  const facts = await seedDemo(custos, { baseUrl: running.url, issuer: provider.issuer, operatorToken });
  seeded = true;
  const factsFile = path.relative(process.cwd(), path.join(config.dataDir, "dev.json"));
  const nskFile = path.relative(process.cwd(), facts.nsk_file);

  // Signals are caught before "ready" is announced (as in serve): whoever waits for that line
  // may signal at once.
  const stopped = stopSignal();
  for (const warning of DEV_WARNINGS) custos.logger.warn(warning);
  if (ignored.length > 0) console.error(`custos dev: ignoring ${ignored.join(", ")}: everything runs embedded`);
  console.log(devBanner({ url: running.url, issuer: provider.issuer, factsFile, nskFile, facts, dataDir: path.relative(process.cwd(), config.dataDir) }));
  console.error(`custos dev ready on ${running.url}`);

  const signal = await stopped;
  const stopping = Date.now();
  console.error(`custos dev stopping (${signal})…`);
  await running.close();
  await provider.close();
  await custos.close();
  console.error(`custos dev stopped in ${String(Date.now() - stopping)} ms; data stays in ${path.relative(process.cwd(), config.dataDir) || "."}`);
  endBySignal(signal);
}
