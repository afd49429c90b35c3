import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import type { EnrolledNode } from "../../support/api-client.ts";
import type { CustosWithProvider, Tenant } from "../../support/custos-with-provider.ts";

/**
 * A node of a test's own, enrolled in a fresh domain of a real Custos, with its secrets
 * written and granted, and an agent configuration in a temporary directory pointing at
 * `baseUrl` (the event stream fixture in front of that Custos). Each secret's reload command
 * appends a line to `reloads/<name>`, so a test counts reloads by reading it.
 */
export interface AgentNode {
  readonly tenant: Tenant;
  readonly node: EnrolledNode;
  readonly dir: string;
  readonly configFile: string;
  readonly stateDir: string;
  readonly nskFile: string;
  secretFile(name: string): string;
  reloads(name: string): Promise<number>;
  /** Every file under `dir` with its content and mtime: what "nothing changed on disk" compares. */
  snapshot(): Promise<Record<string, { content: string; mtimeMs: number; mode: number }>>;
}

export interface AgentNodeOptions {
  readonly secrets: Readonly<Record<string, string>>;
  /** Names configured in the agent but never granted to the node. */
  readonly ungranted?: readonly string[];
  /** More settings, or a function of the enrolled node giving them (e.g. its event_key_thumbprint). */
  readonly config?: Record<string, unknown> | ((node: EnrolledNode) => Record<string, unknown>);
  readonly modes?: Readonly<Record<string, string>>;
}

export async function agentNode(env: CustosWithProvider, baseUrl: string, options: AgentNodeOptions): Promise<AgentNode> {
  const tenant = await env.freshTenant({ nodes: ["agent-node"] });
  const node = tenant.nodes[0];
  if (node === undefined) throw new Error("one node was enrolled");
  for (const [name, value] of Object.entries(options.secrets)) {
    const written = await env.api.writeSecret(tenant.admin, tenant.domain, name, { value });
    if (written.status !== 201 && written.status !== 200) throw new Error(`writing ${name} answered ${String(written.status)}`);
    const granted = await env.api.addReader(tenant.admin, tenant.domain, name, node.node_id);
    if (granted.status !== 204) throw new Error(`granting ${name} answered ${String(granted.status)}`);
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), "custos-agent-"));
  await mkdir(path.join(dir, "secrets"));
  await mkdir(path.join(dir, "reloads"));
  const nskFile = path.join(dir, "node.nsk");
  await writeFile(nskFile, `${node.nsk}\n`, { mode: 0o600 });
  const secretFile = (name: string) => path.join(dir, "secrets", name);
  const names = [...Object.keys(options.secrets), ...(options.ungranted ?? [])];
  const config = {
    url: baseUrl,
    domain: tenant.domain,
    node_id: node.node_id,
    kid: node.kid,
    nsk_file: "node.nsk",
    reconnect_max_seconds: 1,
    secrets: names.map((name) => ({
      name,
      path: `secrets/${name}`,
      ...(options.modes?.[name] === undefined ? {} : { mode: options.modes[name] }),
      reload: ["/bin/sh", "-c", 'echo reloaded >> "$0"', path.join(dir, "reloads", name)],
    })),
    ...(typeof options.config === "function" ? options.config(node) : options.config),
  };
  const configFile = path.join(dir, "agent.yaml");
  await writeFile(configFile, stringify(config));
  return {
    tenant, node, dir, configFile, nskFile, secretFile,
    stateDir: path.join(dir, "agent.state"),
    async reloads(name) {
      try {
        return (await readFile(path.join(dir, "reloads", name), "utf8")).split("\n").filter((line) => line !== "").length;
      } catch {
        return 0;
      }
    },
    async snapshot() {
      const files: Record<string, { content: string; mtimeMs: number; mode: number }> = {};
      for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
        if (!entry.isFile()) continue;
        const file = path.join(entry.parentPath, entry.name);
        const info = await stat(file);
        files[path.relative(dir, file)] = { content: await readFile(file, "utf8"), mtimeMs: info.mtimeMs, mode: info.mode & 0o777 };
      }
      return files;
    },
  };
}
