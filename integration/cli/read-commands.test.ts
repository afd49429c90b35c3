import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DomainSummaryDocument, EnrolledNode, NodeView, Paged } from "../support/api-client.ts";
import { runCli } from "../support/cli.ts";
import { nodeBearer, startCustosWithProvider, type CustosWithProvider, type Tenant } from "../support/custos-with-provider.ts";

/**
 * `custos node list|show|quarantine|lift|decommission` and `custos domain list|show`, run in
 * this process against Custos over HTTP: a table by default, the API's JSON with --json.
 */
describe("the node and domain read commands", () => {
  let env: CustosWithProvider;
  let dir: string;
  let tenant: Tenant;
  let adminFile: string;
  let auditorFile: string;
  let weakFile: string;

  beforeAll(async () => {
    env = await startCustosWithProvider();
    dir = await mkdtemp(path.join(os.tmpdir(), "custos-read-cli-"));
    tenant = await env.freshTenant({ nodes: ["web-1", "web-2", "web-3"] });
    adminFile = path.join(dir, "admin.jwt");
    auditorFile = path.join(dir, "auditor.jwt");
    weakFile = path.join(dir, "weak.jwt");
    await writeFile(adminFile, tenant.admin);
    await writeFile(auditorFile, await env.idToken("bob@example.org", "password"));
    await writeFile(weakFile, await env.idToken("alice", "password"));
  });
  afterAll(async () => {
    await env.close();
    await rm(dir, { recursive: true, force: true });
  });

  const asAuditor = (...args: string[]) => runCli([...args, "--id-token-file", auditorFile, "--url", env.server.url]);
  const asAdmin = (...args: string[]) => runCli([...args, "--id-token-file", adminFile, "--url", env.server.url]);
  const nodes = () => tenant.nodes as [EnrolledNode, EnrolledNode, EnrolledNode];

  it("node list prints a table of every node, following the cursor, and --json the API's items", async () => {
    const table = await asAuditor("node", "list", tenant.domain);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^NODE ID\s+NAME\s+STATE\s+CURRENT KID\s+ENROLLED\s+LAST READ$/);
    expect(lines).toHaveLength(4);
    for (const node of nodes()) expect(table.stdout).toMatch(new RegExp(`${node.node_id}\\s+web-\\d\\s+active\\s+${node.kid}`));

    const json = await asAuditor("node", "list", tenant.domain, "--json");
    expect(json.code, json.stderr).toBe(0);
    const all = JSON.parse(json.stdout) as Paged<NodeView>;
    expect(all.items.map((node) => node.node_id)).toEqual(nodes().map((node) => node.node_id).sort());
    expect(all.next_cursor).toBeUndefined();

    // One page with --limit; the next one through --cursor; together each node once.
    const first = JSON.parse((await asAuditor("node", "list", tenant.domain, "--json", "--limit", "2")).stdout) as Paged<NodeView>;
    expect(first.items).toHaveLength(2);
    expect(first.next_cursor).toBeDefined();
    const rest = JSON.parse((await asAuditor("node", "list", tenant.domain, "--json", "--limit", "2", "--cursor", first.next_cursor ?? "")).stdout) as Paged<NodeView>;
    expect([...first.items, ...rest.items].map((node) => node.node_id)).toEqual(all.items.map((node) => node.node_id));
    const paged = await asAuditor("node", "list", tenant.domain, "--limit", "2");
    expect(paged.stderr).toContain(`--cursor ${first.next_cursor ?? ""}`);
  });

  it("node show prints the node and its keys, and --json the API's document", async () => {
    const [node] = nodes();
    const shown = await asAuditor("node", "show", tenant.domain, node.node_id);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`node id:\\s+${node.node_id}`));
    expect(shown.stdout).toMatch(/state:\s+active/);
    expect(shown.stdout).toMatch(new RegExp(`KID\\s+CREATED\\s+RETIRES\\n${node.kid}\\s+\\S+\\s+-`));
    expect(shown.stdout).not.toContain(node.nsk);
    const json = await asAuditor("node", "show", tenant.domain, node.node_id, "--json");
    expect(JSON.parse(json.stdout)).toEqual((await env.api.showNode(tenant.admin, tenant.domain, node.node_id)).body());

    const missing = await asAuditor("node", "show", tenant.domain, "00000000-0000-4000-8000-000000000000");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("HTTP 404 not_found");
    const bad = await asAuditor("node", "show", tenant.domain, "not-a-node");
    expect(bad.code).toBe(2);
  });

  it("node quarantine, lift and decommission change the node; a password-only admin is told to step up; the node's bearer stops working", async () => {
    const [, node] = nodes();
    const weak = await runCli(["node", "decommission", tenant.domain, node.node_id, "--id-token-file", weakFile, "--url", env.server.url]);
    expect(weak.code).toBe(1);
    expect(weak.stderr).toContain("HTTP 401 step_up_required");
    expect((await env.api.showNode(tenant.admin, tenant.domain, node.node_id)).body().state).toBe("active");

    expect((await asAdmin("node", "quarantine", tenant.domain, node.node_id)).code).toBe(0);
    expect((await env.api.showNode(tenant.admin, tenant.domain, node.node_id)).body().state).toBe("quarantined");
    expect((await asAdmin("node", "lift", tenant.domain, node.node_id)).code).toBe(0);
    expect((await env.api.showNode(tenant.admin, tenant.domain, node.node_id)).body().state).toBe("active");

    const done = await asAdmin("node", "decommission", tenant.domain, node.node_id);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toContain(`decommissioned ${node.node_id}`);
    expect((await env.api.readSecret(nodeBearer(node), node.node_id, "anything")).status).toBe(401);
    expect((await asAuditor("node", "show", tenant.domain, node.node_id)).stdout).toMatch(/state:\s+decommissioned/);
    const again = await asAdmin("node", "quarantine", tenant.domain, node.node_id);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("HTTP 409 node_decommissioned");
  });

  it("domain list prints every domain with the operator token, and --json the API's items; without the token it is a usage error", async () => {
    const table = await runCli(["domain", "list", "--url", env.server.url], { CUSTOS_OPERATOR_TOKEN: env.operatorToken });
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/^DOMAIN\s+ISSUER\s+CLIENT ID\s+CREATED\s+UPDATED$/);
    expect(table.stdout).toMatch(new RegExp(`${tenant.domain}\\s+${env.provider.issuer.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    const json = await runCli(["domain", "list", "--json", "--url", env.server.url], { CUSTOS_OPERATOR_TOKEN: env.operatorToken });
    const ids = (JSON.parse(json.stdout) as Paged<DomainSummaryDocument>).items.map((domain) => domain.domain);
    expect(ids).toEqual(expect.arrayContaining(["acme", tenant.domain]));
    const missing = await runCli(["domain", "list", "--url", env.server.url]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("CUSTOS_OPERATOR_TOKEN");
  });

  it("domain show prints the domain's members and counts, and --json the API's document", async () => {
    const shown = await asAuditor("domain", "show", tenant.domain);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/admins:\s+alice/);
    expect(shown.stdout).toMatch(/auditors:\s+bob@example.org/);
    expect(shown.stdout).toMatch(/nodes:\s+\d/);
    const json = await asAuditor("domain", "show", tenant.domain, "--json");
    expect(JSON.parse(json.stdout)).toEqual((await env.api.showDomain(tenant.admin, tenant.domain)).body());
  });
});
