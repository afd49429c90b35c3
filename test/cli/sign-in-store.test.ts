import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { claimsOf, configDirectory, listSignIns, loadSignIn, removeSignIn, saveSignIn, signInFile, type StoredSignIn } from "../../src/cli/login/sign-in-store.ts";

function jwt(payload: Record<string, unknown>): string {
  return `eyJhbGciOiJFUzI1NiJ9.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.c2ln`;
}

const SIGN_IN: StoredSignIn = {
  base_url: "http://127.0.0.1:8080",
  domain: "demo",
  issuer: "http://127.0.0.1:9000",
  client_id: "custos",
  id_token: jwt({ sub: "alice", acr: "urn:custos:acr:mfa", amr: ["pwd", "otp"], auth_time: 1_700_000_000, exp: 1_700_003_600 }),
  expires_at: 1_700_003_600,
};

describe("the sign-in store", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "custos-store-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("lives under XDG_CONFIG_HOME, or ~/.config when it is unset or relative", () => {
    expect(configDirectory({ XDG_CONFIG_HOME: "/x/conf", HOME: "/home/a" })).toBe("/x/conf/custos");
    expect(configDirectory({ HOME: "/home/a" })).toBe("/home/a/.config/custos");
    expect(configDirectory({ XDG_CONFIG_HOME: "relative", HOME: "/home/a" })).toBe("/home/a/.config/custos");
  });

  it("writes 0600 in a 0700 directory, only the known fields, and reads it back for the same base URL spelled with a slash", async () => {
    const config = path.join(dir, "custos");
    const file = await saveSignIn(config, { ...SIGN_IN, refresh_token: "never" } as StoredSignIn);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(config)).mode & 0o777).toBe(0o700);
    expect(await readFile(file, "utf8")).not.toContain("refresh_token");
    expect(await loadSignIn(config, "http://127.0.0.1:8080/", "demo")).toEqual(SIGN_IN);
    expect(await loadSignIn(config, "http://127.0.0.1:8081", "demo")).toBeUndefined();
    expect(await listSignIns(config)).toEqual([SIGN_IN]);
  });

  it("one file per (base URL, domain), named so neither can steer the path", () => {
    const a = signInFile("/c", "http://h:1", "../../etc");
    expect(path.dirname(a)).toBe("/c/sign-ins");
    expect(path.basename(a)).toMatch(/^[0-9a-f]{32}\.json$/);
    expect(signInFile("/c", "http://h:1", "x")).not.toBe(signInFile("/c", "http://h:2", "x"));
  });

  it("ignores a file that is not a sign-in or names another one", async () => {
    const config = path.join(dir, "custos");
    const file = await saveSignIn(config, SIGN_IN);
    await writeFile(file, JSON.stringify({ ...SIGN_IN, domain: "other" }));
    expect(await loadSignIn(config, SIGN_IN.base_url, "demo")).toBeUndefined();
    await writeFile(file, "not json");
    expect(await loadSignIn(config, SIGN_IN.base_url, "demo")).toBeUndefined();
  });

  it("removes a sign-in, and says when there was none", async () => {
    const config = path.join(dir, "custos");
    await saveSignIn(config, SIGN_IN);
    expect(await removeSignIn(config, SIGN_IN.base_url, "demo")).toBe(true);
    expect(await removeSignIn(config, SIGN_IN.base_url, "demo")).toBe(false);
    expect(await loadSignIn(config, SIGN_IN.base_url, "demo")).toBeUndefined();
  });

  it("reads the claims whoami shows from the id_token, and nothing from a non-JWT", () => {
    expect(claimsOf(SIGN_IN.id_token)).toEqual({ sub: "alice", acr: "urn:custos:acr:mfa", amr: ["pwd", "otp"], auth_time: 1_700_000_000, exp: 1_700_003_600 });
    expect(claimsOf("garbage")).toEqual({ sub: undefined, acr: undefined, amr: undefined, auth_time: undefined, exp: undefined });
  });
});
