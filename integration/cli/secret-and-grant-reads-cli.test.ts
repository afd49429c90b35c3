import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { saveSignIn } from "../../src/cli/login/sign-in-store.ts";
import { runCli } from "../support/cli.ts";
import { startCustosWithProvider, type CustosWithProvider, type Tenant } from "../support/custos-with-provider.ts";
import { CLIENT_ID } from "../identity/oidc-fixtures.ts";

const VALUE = "cli-value-never-printed-3f8a";

/**
 * `custos secret list|show|delete` and `custos grant list`: the read APIs and the deletion
 * from the command line, in this process, as a table by default and the API's JSON with
 * --json. The auditor reads with a stored `custos login` sign-in; the admin deletes with
 * --id-token-file (the automation path; the stored path is the same adminCredential).
 */
describe("the secret and grant read commands", () => {
  let env: CustosWithProvider;
  let dir: string;
  let configHome: string;
  let tenant: Tenant;
  let strong: string;
  let weak: string;
  let nodeId: string;
  let jti: string;

  const asAuditor = (args: readonly string[]) => runCli([...args, "--url", env.server.url], { XDG_CONFIG_HOME: configHome });
  const asAdmin = (args: readonly string[], tokenFile = strong) => runCli([...args, "--url", env.server.url, "--id-token-file", tokenFile]);

  beforeAll(async () => {
    env = await startCustosWithProvider();
    dir = await mkdtemp(path.join(os.tmpdir(), "custos-reads-cli-"));
    configHome = path.join(dir, "config");
    tenant = await env.freshTenant({ nodes: ["cli-reader"] });
    nodeId = tenant.nodes[0]?.node_id ?? "";
    for (const name of ["alpha", "beta", "gamma"]) expect((await env.api.writeSecret(tenant.admin, tenant.domain, name, { value: `${VALUE}-${name}` })).status).toBe(201);
    expect((await env.api.addReader(tenant.admin, tenant.domain, "beta", nodeId)).status).toBe(204);
    jti = (await env.api.issueGrant(tenant.admin, tenant.domain, { node_id: nodeId, action: "ssh.login" })).body().jti;
    const auditorToken = await env.idToken("bob@example.org", "password");
    await saveSignIn(path.join(configHome, "custos"), {
      base_url: env.server.url, domain: tenant.domain, issuer: env.provider.issuer, client_id: CLIENT_ID, id_token: auditorToken, expires_at: 4_000_000_000,
    });
    strong = path.join(dir, "strong.jwt");
    weak = path.join(dir, "weak.jwt");
    await writeFile(strong, tenant.admin);
    await writeFile(weak, await env.idToken("alice", "password"));
  });
  afterAll(async () => {
    await env.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("secret list prints a table of every secret by default, and the API's JSON with --json; never a value", async () => {
    const table = await asAuditor(["secret", "list", tenant.domain]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+VERSION\s+UPDATED\s+READERS$/);
    expect(lines.slice(1).map((line) => line.split(/\s+/).filter((cell) => !cell.includes("T")))).toEqual([["alpha", "1", "0"], ["beta", "1", "1"], ["gamma", "1", "0"]]);
    expect(table.stdout).not.toContain(VALUE);

    const json = await asAuditor(["secret", "list", tenant.domain, "--json"]);
    expect(json.code, json.stderr).toBe(0);
    const body = JSON.parse(json.stdout) as { items: { name: string; reader_count: number }[]; next_cursor?: string };
    expect(body.items.map((item) => [item.name, item.reader_count])).toEqual([["alpha", 0], ["beta", 1], ["gamma", 0]]);
    expect(body.next_cursor).toBeUndefined();
  });

  it("secret list --limit prints one page and its next_cursor; without it, every page is followed", async () => {
    const page = await asAuditor(["secret", "list", tenant.domain, "--json", "--limit", "2"]);
    expect(page.code, page.stderr).toBe(0);
    const body = JSON.parse(page.stdout) as { items: { name: string }[]; next_cursor?: string };
    expect(body.items.map((item) => item.name)).toEqual(["alpha", "beta"]);
    expect(body.next_cursor).toEqual(expect.any(String));
    const refused = await asAuditor(["secret", "list", tenant.domain, "--limit", "0"]);
    expect(refused.code).toBe(2);
  });

  it("secret show prints the metadata and readers as a record and a table, or --json", async () => {
    const shown = await asAuditor(["secret", "show", tenant.domain, "beta"]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^name:\s+beta$/m);
    expect(shown.stdout).toMatch(/^version:\s+1$/m);
    expect(shown.stdout).toMatch(/^readers:\s+1$/m);
    expect(shown.stdout).toMatch(new RegExp(`^${nodeId}\\s+cli-reader$`, "m"));
    expect(shown.stdout).not.toContain(VALUE);

    const json = await asAuditor(["secret", "show", tenant.domain, "beta", "--json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ name: "beta", version: 1, readers: [{ node_id: nodeId, name: "cli-reader" }] });

    const missing = await asAuditor(["secret", "show", tenant.domain, "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("HTTP 404 not_found");
    expect(missing.stderr).toContain(`custos secret list ${tenant.domain}`);
  });

  it("grant list prints the issued grants as a table or --json, never a grant", async () => {
    const table = await asAuditor(["grant", "list", tenant.domain]);
    expect(table.code, table.stderr).toBe(0);
    const [header, row, ...rest] = table.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^JTI\s+NODE\s+ACTION\s+ACTOR\s+ISSUED\s+EXPIRES$/);
    expect(row?.split(/\s+/).slice(0, 4)).toEqual([jti, nodeId, "ssh.login", `user:oidc:${tenant.domain}:alice`]);
    expect(rest).toEqual([]);

    const json = await asAuditor(["grant", "list", tenant.domain, "--json"]);
    expect(json.code, json.stderr).toBe(0);
    const body = JSON.parse(json.stdout) as { items: { jti: string; iat: number; exp: number }[] };
    expect(body.items).toHaveLength(1);
    expect(body.items[0]).toMatchObject({ jti, node_id: nodeId, action: "ssh.login" });
    expect((body.items[0]?.exp ?? 0) - (body.items[0]?.iat ?? 0)).toBe(300);
  });

  it("`grant <domain> <node-id> <action>` still issues a grant beside `grant list`", async () => {
    const issued = await asAdmin(["grant", tenant.domain, nodeId, "db.connect", "--ttl", "60"]);
    expect(issued.code, issued.stderr).toBe(0);
    const answer = JSON.parse(issued.stdout) as { jti?: unknown; grant?: unknown };
    expect([typeof answer.jti, typeof answer.grant]).toEqual(["string", "string"]);
    const listed = await asAuditor(["grant", "list", tenant.domain, "--json"]);
    expect((JSON.parse(listed.stdout) as { items: { action: string }[] }).items.map((item) => item.action)).toEqual(["ssh.login", "db.connect"]);
  });

  it("secret delete: the auditor is refused, a password-only admin is told to step up, a stepped-up admin deletes", async () => {
    const auditorRefused = await asAuditor(["secret", "delete", tenant.domain, "gamma"]);
    expect(auditorRefused.code).toBe(1);
    expect(auditorRefused.stderr).toContain("HTTP 403 permission_denied");

    const weakRefused = await asAdmin(["secret", "delete", tenant.domain, "gamma"], weak);
    expect(weakRefused.code).toBe(1);
    expect(weakRefused.stderr).toContain("HTTP 401 step_up_required");
    expect(weakRefused.stderr).toContain("insufficient_user_authentication");
    expect((await env.custos.backend.readSecret(tenant.domain, "gamma"))?.value.toString()).toBe(`${VALUE}-gamma`);

    const deleted = await asAdmin(["secret", "delete", tenant.domain, "gamma"]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stderr).toContain(`deleted ${tenant.domain}/gamma`);
    expect(await env.custos.backend.readSecret(tenant.domain, "gamma")).toBeUndefined();
    const listed = await asAuditor(["secret", "list", tenant.domain, "--json"]);
    expect((JSON.parse(listed.stdout) as { items: { name: string }[] }).items.map((item) => item.name)).toEqual(["alpha", "beta"]);

    const again = await asAdmin(["secret", "delete", tenant.domain, "gamma"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("HTTP 404 not_found");
  });
});
