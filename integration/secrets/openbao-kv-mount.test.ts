import os from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import type { OpenBaoConfig } from "../../src/platform/config.ts";
import { openSecretBackend } from "../../src/secrets/open-secret-backend.ts";
import { startOpenBaoDouble, type OpenBaoDouble, type OpenBaoDoubleOptions } from "./openbao-double.ts";
import { rejection } from "./openbao-fixtures.ts";

/** Issue "OpenBao in production", item 5: start-up checks that OPENBAO_KV_MOUNT is KV version 2. */

let double: OpenBaoDouble | undefined;

afterEach(async () => {
  await double?.stop();
  double = undefined;
});

async function openAgainst(options: OpenBaoDoubleOptions, overrides: Partial<OpenBaoConfig> = {}) {
  const started = await startOpenBaoDouble(options);
  double = started;
  started.createTransitKey("custos", { derived: true });
  return openSecretBackend({
    nodeEnv: "test",
    dataDir: os.tmpdir(),
    logLevel: "silent",
    openbao: { addr: started.addr, auth: { method: "token", token: started.token }, kvMount: "secret", transitMount: "transit", transitKey: "custos", timeoutMs: 1_000, ...overrides },
  });
}

describe("start-up checks the KV mount", () => {
  it("a KV version 1 mount stops start-up, naming the fix", async () => {
    const error = await rejection(openAgainst({ kvVersion1: true }));
    expect(error.code).toBe("secret_backend_unavailable");
    expect(error.detail).toContain("not KV version 2");
    expect((error.cause as Error).message).toContain("kv-v2");
  });

  it("a mount that is not KV (here the Transit mount) stops start-up", async () => {
    const error = await rejection(openAgainst({}, { kvMount: "transit" }));
    expect((error.cause as Error).message).toContain("a transit mount");
  });

  it("a mount the token cannot see (a typo) stops start-up", async () => {
    expect((await rejection(openAgainst({}, { kvMount: "secrte" }))).code).toBe("secret_backend_unavailable");
  });

  it("a KV v2 mount starts", async () => {
    const backend = await openAgainst({});
    await backend.close();
  });
});
