import { afterEach, describe, expect, it } from "vitest";
import { buildHttpApp, type HttpDependencies } from "../../src/http/app.ts";
import { HSTS_VALUE } from "../../src/http/security-headers.ts";
import { loadConfig } from "../../src/platform/config.ts";
import { createMetrics } from "../../src/platform/metrics.ts";
import { captureLogger } from "../support/logger.ts";
import { serveOnLoopback, type TestServer } from "../support/http.ts";

/** Issue 15: behind a TLS-terminating proxy, `trust proxy` is configured and HSTS is sent. */
describe("behind a TLS proxy", () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function serve(deps: Partial<HttpDependencies>): Promise<string> {
    const app = buildHttpApp({
      logger: captureLogger().logger,
      metrics: createMetrics(),
      readiness: [],
      routes: [{ method: "get", path: "/v1/whoami", handlers: [(req, res) => { res.json({ ip: req.ip, secure: req.secure }); }] }],
      ...deps,
    });
    server = await serveOnLoopback(app);
    return server.url;
  }
  const forwarded = { "x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https" };

  it("sends HSTS on every answer, refusals included, when CUSTOS_PUBLIC_URL is https", async () => {
    const config = loadConfig({ CUSTOS_PUBLIC_URL: "https://custos.example.org/" });
    const url = await serve({ publicUrl: config.publicUrl });
    expect((await fetch(`${url}/v1/whoami`)).headers.get("strict-transport-security")).toBe(HSTS_VALUE);
    expect((await fetch(`${url}/v1/nowhere`)).headers.get("strict-transport-security")).toBe("max-age=31536000; includeSubDomains");
  });

  it("sends no HSTS over plain HTTP when the public URL is http or absent", async () => {
    const url = await serve({ publicUrl: "http://127.0.0.1:8080" });
    expect((await fetch(`${url}/v1/whoami`)).headers.get("strict-transport-security")).toBeNull();
  });

  it("believes no X-Forwarded-* header by default", async () => {
    const url = await serve({ trustProxy: loadConfig({}).trustProxy });
    const response = await fetch(`${url}/v1/whoami`, { headers: forwarded });
    expect(await response.json()).toEqual({ ip: "127.0.0.1", secure: false });
    expect(response.headers.get("strict-transport-security")).toBeNull();
  });

  it("believes the configured proxy (CUSTOS_TRUST_PROXY=loopback): client address, TLS and HSTS", async () => {
    const url = await serve({ trustProxy: loadConfig({ CUSTOS_TRUST_PROXY: "loopback" }).trustProxy });
    const response = await fetch(`${url}/v1/whoami`, { headers: forwarded });
    expect(await response.json()).toEqual({ ip: "203.0.113.9", secure: true });
    expect(response.headers.get("strict-transport-security")).toBe(HSTS_VALUE);
  });

  it("does not believe a proxy outside the configured ranges", async () => {
    const url = await serve({ trustProxy: loadConfig({ CUSTOS_TRUST_PROXY: "10.0.0.0/8" }).trustProxy });
    expect(await (await fetch(`${url}/v1/whoami`, { headers: forwarded })).json()).toEqual({ ip: "127.0.0.1", secure: false });
  });
});
