import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { domainRef, userRef } from "../../src/authz/object-ids.ts";
import { runCli } from "../support/cli.ts";
import { startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";

/**
 * `custos domain put` and `custos secret put|grant|revoke`: the API, from the command line,
 * run in this process (cli-startup.test.ts runs `domain put` as a real process).
 */
describe("the administering commands", () => {
  let env: CustosWithProvider;
  let dir: string;

  beforeAll(async () => {
    env = await startCustosWithProvider();
    dir = await mkdtemp(path.join(os.tmpdir(), "custos-admin-cli-"));
  });
  afterAll(async () => {
    await env.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("custos domain put creates a domain with the operator token, and refuses without it", async () => {
    const args = ["domain", "put", "initech", "--issuer", env.provider.issuer, "--client-id", "custos", "--admin", "alice", "--auditor", "bob@example.org", "--url", env.server.url];
    const created = await runCli(args, { CUSTOS_OPERATOR_TOKEN: env.operatorToken });
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toContain("domain initech created");
    expect(await env.custos.authorizer.check({ resource: domainRef("initech"), permission: "administer", subject: userRef("oidc:initech:alice") })).toBe(true);

    const missing = await runCli(args);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("CUSTOS_OPERATOR_TOKEN");
    const wrong = await runCli(args, { CUSTOS_OPERATOR_TOKEN: "x".repeat(43) });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("HTTP 401 invalid_token");
  });

  it("custos secret put and grant work for a stepped-up admin; a password-only admin is told to step up", async () => {
    const { node_id: nodeId } = (await env.api.enroll(await env.idToken("alice", "mfa"), "acme", "cli-node")).body();
    const strong = path.join(dir, "strong.jwt");
    const weak = path.join(dir, "weak.jwt");
    const value = path.join(dir, "value.txt");
    await writeFile(strong, await env.idToken("alice", "mfa"));
    await writeFile(weak, await env.idToken("alice", "password"));
    await writeFile(value, "from-a-file");

    const put = await runCli(["secret", "put", "acme", "cli-secret", "--value-file", value, "--id-token-file", strong, "--url", env.server.url]);
    expect(put.code, put.stderr).toBe(0);
    expect(JSON.parse(put.stdout)).toEqual({ name: "cli-secret", version: 1 });

    const refused = await runCli(["secret", "grant", "acme", "cli-secret", nodeId, "--id-token-file", weak, "--url", env.server.url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("HTTP 401 step_up_required");
    expect(refused.stderr).toContain('acr_values="urn:custos:acr:mfa"');

    const granted = await runCli(["secret", "grant", "acme", "cli-secret", nodeId, "--id-token-file", strong, "--url", env.server.url]);
    expect(granted.code, granted.stderr).toBe(0);
    const revoked = await runCli(["secret", "revoke", "acme", "cli-secret", nodeId, "--id-token-file", strong, "--url", env.server.url]);
    expect(revoked.code, revoked.stderr).toBe(0);
  });

  it("refuses bad arguments with a usage error before calling anything", async () => {
    const result = await runCli(["secret", "grant", "acme", "../etc", "not-a-node", "--id-token-file", "/nonexistent"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("secret name");
  });
});
