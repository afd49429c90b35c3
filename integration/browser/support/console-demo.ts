import { randomBytes } from "node:crypto";
import { buildCustos, type Custos } from "../../../src/custos.ts";
import { startDevProvider, type DevProvider } from "../../../src/dev/provider/dev-provider.ts";
import { DEMO_ADMIN, DEMO_AUDITOR, DEMO_CLIENT_ID, DEMO_DOMAIN, seedDemo, type DevFacts } from "../../../src/dev/seed-demo.ts";
import { testConfig } from "../../support/config.ts";
import { serveOnLoopback, type TestServer } from "../../support/http.ts";
import { captureLogger, type CapturedLogger } from "../../support/logger.ts";
import { createIsolatedStore, type IsolatedStore } from "../../support/stores.ts";

/**
 * What `custos dev` runs, in this process: Custos on loopback, the development OpenID provider
 * with the demo accounts (alice, the admin; bob, the auditor), and the demo seeded through
 * the same services (domain `demo`, node `demo-node`, secret `database-password` it may read).
 * The database is the test file's own PGlite, so a test can reach it as a DBA would.
 */
export interface ConsoleDemo {
  readonly url: string;
  readonly custos: Custos;
  readonly provider: DevProvider;
  readonly store: IsolatedStore;
  readonly facts: DevFacts;
  readonly logs: CapturedLogger;
  readonly domain: string;
  readonly admin: string;
  readonly auditor: string;
  close(): Promise<void>;
}

export async function startConsoleDemo(): Promise<ConsoleDemo> {
  const operatorToken = randomBytes(32).toString("base64url");
  const store = await createIsolatedStore("pglite");
  const logs = captureLogger();
  const custos = await buildCustos({ config: testConfig({ CUSTOS_OPERATOR_TOKEN: operatorToken }), database: store.db, logger: logs.logger });
  let server: TestServer | undefined;
  let provider: DevProvider | undefined;
  try {
    server = await serveOnLoopback(custos.app);
    provider = await startDevProvider({
      host: "127.0.0.1",
      port: 0,
      clients: [{ client_id: DEMO_CLIENT_ID, redirect_uris: [`${server.url}/auth/${DEMO_DOMAIN}/callback`] }],
      accounts: [
        { id: DEMO_ADMIN, name: "Alice", role: "demo admin" },
        { id: DEMO_AUDITOR, name: "Bob", role: "demo auditor" },
      ],
      nodeEnv: "test",
    });
    const facts = await seedDemo(custos, { baseUrl: server.url, issuer: provider.issuer, operatorToken });
    const running = { server, provider };
    return {
      url: server.url,
      custos,
      provider,
      store,
      facts,
      logs,
      domain: DEMO_DOMAIN,
      admin: DEMO_ADMIN,
      auditor: DEMO_AUDITOR,
      async close() {
        await running.server.close();
        await running.provider.close();
        await custos.close();
        await store.dispose();
      },
    };
  } catch (error) {
    await server?.close();
    await provider?.close();
    await custos.close();
    await store.dispose();
    throw error;
  }
}
