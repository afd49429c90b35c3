import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createOpenBaoBackend, type OpenBaoSecretBackend } from "../../src/secrets/backends/openbao-backend.ts";
import { startOpenBaoDouble, type OpenBaoDouble, type OpenBaoDoubleOptions } from "./openbao-double.ts";
import { rejection } from "./openbao-fixtures.ts";

/**
 * Issue "OpenBao in production", items 4 and 5 (writes): bounded retries inside the call's
 * deadline, each 503 named for what it is, KV writes with check-and-set.
 */

let double: OpenBaoDouble;
let backend: OpenBaoSecretBackend;

async function start(options: OpenBaoDoubleOptions = {}, timeoutMs = 2_000): Promise<void> {
  double = await startOpenBaoDouble(options);
  double.createTransitKey("custos", { derived: true });
  backend = createOpenBaoBackend({
    addr: double.addr, auth: { method: "token", token: double.token }, kvMount: "secret", transitMount: "transit", transitKey: "custos", timeoutMs,
  });
  await backend.start();
}

beforeEach(() => {
  double = undefined as unknown as OpenBaoDouble;
});

afterEach(async () => {
  await backend.close();
  await double.stop();
});

const KV_READ = /^GET \/v1\/secret\/data\//;
const KV_WRITE = /^(POST|PUT) \/v1\/secret\/data\//;
const count = (pattern: RegExp) => double.requests.filter((entry) => pattern.test(entry)).length;

describe("retries", () => {
  it("429: waits for Retry-After within the deadline, then succeeds", async () => {
    await start();
    await backend.writeSecret("acme", "db", Buffer.from("v1"));
    double.inject({ match: KV_READ, times: 1, status: 429, errors: ["request rate limit exceeded"], retryAfter: "1" });
    const started = Date.now();
    expect((await backend.readSecret("acme", "db"))?.value.toString()).toBe("v1");
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(count(KV_READ)).toBe(2);
  });

  it("429 whose Retry-After outlasts the deadline fails at once, named rate_limited", async () => {
    await start();
    double.inject({ match: KV_READ, times: 5, status: 429, errors: ["request rate limit exceeded"], retryAfter: "30" });
    const started = Date.now();
    const error = await rejection(backend.readSecret("acme", "db"));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(error.code).toBe("secret_backend_unavailable");
    expect(error.cause).toMatchObject({ kind: "rate_limited", status: 429 });
    expect(count(KV_READ)).toBe(1);
  });

  it("500, 502, a dropped socket and a standby without an active node are retried", async () => {
    await start();
    await backend.writeSecret("acme", "db", Buffer.from("v1"));
    double.inject({ match: KV_READ, times: 1, status: 500, errors: ["internal error"] });
    double.inject({ match: KV_READ, times: 1, status: 502 });
    double.inject({ match: KV_READ, times: 1, status: "drop" });
    expect((await backend.readSecret("acme", "db"))?.value.toString()).toBe("v1");
    expect(count(KV_READ)).toBe(4);

    double.inject({ match: /transit\/encrypt/, times: 1, status: 500, errors: ["local node not active but active cluster node not found"] });
    double.inject({ match: /transit\/encrypt/, times: 1, status: 503, errors: ["no active Vault instance found"] });
    const wrapped = await backend.wrap(Buffer.from("k"), "ctx");
    expect((await backend.unwrap(wrapped, "ctx")).toString()).toBe("k");
  });

  it("a sealed 503 is not retried; each 503 keeps its own name", async () => {
    await start();
    double.inject({ match: KV_READ, times: 1, status: 503, errors: ["Vault is sealed"] });
    expect((await rejection(backend.readSecret("acme", "db"))).cause).toMatchObject({ kind: "sealed" });
    expect(count(KV_READ)).toBe(1);

    double.inject({ match: KV_READ, times: 50, status: 503, errors: ["no active Vault instance found"] });
    expect((await rejection(backend.readSecret("acme", "db"))).cause).toMatchObject({ kind: "no_active_node", status: 503 });
  });

  it("a persistent 500 gives up within the deadline after at most 4 attempts", async () => {
    await start({}, 600);
    double.inject({ match: KV_READ, times: 100, status: 500, errors: ["internal error"] });
    const started = Date.now();
    const error = await rejection(backend.readSecret("acme", "db"));
    expect(Date.now() - started).toBeLessThan(800);
    expect(error.cause).toMatchObject({ kind: "server_error", status: 500 });
    expect(count(KV_READ)).toBeGreaterThanOrEqual(2);
    expect(count(KV_READ)).toBeLessThanOrEqual(4);
  });
});

describe("KV writes with check-and-set", () => {
  it("a write whose answer was lost is retried without adding a second version", async () => {
    await start();
    double.inject({ match: KV_WRITE, times: 1, status: "drop", afterApplying: true });
    expect(await backend.writeSecret("acme", "db", Buffer.from("v1"))).toEqual({ version: 1 });
    expect(double.kvVersions("custos/acme/db")).toBe(1);
    expect(count(KV_WRITE)).toBe(2);
    expect(await backend.writeSecret("acme", "db", Buffer.from("v2"))).toEqual({ version: 2 });
  });

  it("a mount with cas_required accepts Custos's writes", async () => {
    await start({ kvCasRequired: true });
    expect(await backend.writeSecret("acme", "db", Buffer.from("v1"))).toEqual({ version: 1 });
    expect(await backend.writeSecret("acme", "db", Buffer.from("v2"))).toEqual({ version: 2 });
    expect((await backend.readSecret("acme", "db"))?.value.toString()).toBe("v2");
  });

  it("another write first is a conflict, not a silent overwrite", async () => {
    await start();
    await backend.writeSecret("acme", "db", Buffer.from("v1"));
    double.inject({ match: KV_WRITE, times: 1, status: 400, errors: ["check-and-set parameter did not match the current version"] });
    const error = await rejection(backend.writeSecret("acme", "db", Buffer.from("mine")));
    expect(error.code).toBe("secret_backend_unavailable");
    expect(error.cause).toMatchObject({ kind: "conflict" });
  });
});
