import type { Express } from "express";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface TestServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves an app on an ephemeral loopback port so tests speak real HTTP to it. */
export async function serveOnLoopback(app: Express): Promise<TestServer> {
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => { resolve(); });
      }),
  };
}
