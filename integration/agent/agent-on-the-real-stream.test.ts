import { access, readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";
import { agentNode, type AgentNode } from "./support/agent-node.ts";
import { startAgentProcess, type AgentLogLine, type AgentProcess } from "./support/agent-process.ts";
import { startEventStreamFixture, type EventStreamFixture } from "./support/event-stream-fixture.ts";

/**
 * The node agent on Custos's own signed stream (issue 19): the events are the ones Custos
 * signs and sends at GET /v1/nodes/{id}/events, the keys those its JWKS publishes, pinned by
 * the thumbprint enrollment printed. The fixture in front only relays the real stream: as it
 * is, each message twice (a replaying proxy), or with the claims rewritten under the original
 * signature. Each test has its own domain, node and directory.
 */
describe("custos node agent on Custos's own event stream", () => {
  let env: CustosWithProvider;
  let proxy: EventStreamFixture;
  const running = new Set<AgentProcess>();

  beforeAll(async () => {
    env = await startCustosWithProvider({ kind: "pglite", env: { EVENTS_HEARTBEAT_SECONDS: "1" } });
    proxy = await startEventStreamFixture({ target: env.server.url });
  });
  afterAll(async () => {
    for (const agent of running) await agent.stop();
    await proxy.close();
    await env.close();
  });

  const isMsg = (msg: string | RegExp, fields: Record<string, unknown> = {}) => (line: AgentLogLine) =>
    (typeof msg === "string" ? line.msg === msg : msg.test(line.msg)) && Object.entries(fields).every(([key, value]) => line[key] === value);

  /** A node whose agent pins the event key its enrollment printed. */
  async function pinnedNode(): Promise<AgentNode> {
    const n = await agentNode(env, proxy.url, { secrets: { "db-password": "pw-1" }, config: (node) => ({ event_key_thumbprint: node.event_key_thumbprint }) });
    expect(n.node.event_key_thumbprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
    return n;
  }

  async function started(n: AgentNode): Promise<AgentProcess> {
    const agent = startAgentProcess(["--config", n.configFile]);
    running.add(agent);
    await agent.waitForLog(isMsg("event keys pinned; the configured thumbprint matched"));
    const opened = await agent.waitForLog(isMsg("event stream open"));
    await agent.waitForLog(isMsg("full sync done"), agent.logs().indexOf(opened));
    expect(await readFile(n.secretFile("db-password"), "utf8")).toBe("pw-1");
    return agent;
  }

  const write = async (n: AgentNode, value: string) => {
    expect((await env.api.writeSecret(n.tenant.admin, n.tenant.domain, "db-password", { value })).status).toBe(200);
  };
  const present = (file: string) => access(file).then(() => true, () => false);

  it("rewrites the file on a signed secret.updated and removes it on secret.revoked", async () => {
    proxy.relay = "as-is";
    const n = await pinnedNode();
    const agent = await started(n);
    const from = agent.logs().length;
    await write(n, "pw-2");
    await agent.waitForLog(isMsg("secret written", { version: 2 }), from);
    expect(await readFile(n.secretFile("db-password"), "utf8")).toBe("pw-2");
    expect((await env.api.removeReader(n.tenant.admin, n.tenant.domain, "db-password", n.node.node_id)).status).toBe(204);
    await agent.waitForLog(isMsg(/the secret was revoked$/), from);
    expect(await present(n.secretFile("db-password"))).toBe(false);
  });

  it("is cut off by a quarantine (node.quarantined, then the stream ends) and catches up once the quarantine is lifted", async () => {
    proxy.relay = "as-is";
    const n = await pinnedNode();
    const agent = await started(n);
    const from = agent.logs().length;
    expect((await env.api.quarantine(n.tenant.admin, n.tenant.domain, n.node.node_id)).status).toBe(204);
    await agent.waitForLog(isMsg(/^this node was quarantined/), from);
    await agent.waitForLog(isMsg("event stream closed; reconnecting"), from);
    await write(n, "pw-2");
    expect(await readFile(n.secretFile("db-password"), "utf8")).toBe("pw-1");
    const lifted = agent.logs().length;
    expect((await env.api.liftQuarantine(n.tenant.admin, n.tenant.domain, n.node.node_id)).status).toBe(204);
    const reopened = await agent.waitForLog(isMsg("event stream open"), lifted);
    await agent.waitForLog(isMsg("full sync done"), agent.logs().indexOf(reopened));
    expect(await readFile(n.secretFile("db-password"), "utf8")).toBe("pw-2");
  });

  it("rotates its NSK when an admin asks (nsk.rotate_requested) and reads on with the new key", async () => {
    proxy.relay = "as-is";
    const n = await pinnedNode();
    const agent = await started(n);
    const nskBefore = await readFile(n.nskFile, "utf8");
    const from = agent.logs().length;
    expect((await env.api.requestRotation(n.tenant.admin, n.tenant.domain, n.node.node_id)).status).toBe(202);
    await agent.waitForLog(isMsg("NSK rotated on request"), from);
    expect(await readFile(n.nskFile, "utf8")).not.toBe(nskBefore);
    await write(n, "pw-2");
    await agent.waitForLog(isMsg("secret written", { version: 2 }), from);
    expect(await readFile(n.secretFile("db-password"), "utf8")).toBe("pw-2");
  });

  it("applies a real event a proxy replays once, and refuses the copy as event_replayed", async () => {
    proxy.relay = "twice";
    const n = await pinnedNode();
    const agent = await started(n);
    const reloadsBefore = await n.reloads("db-password");
    const from = agent.logs().length;
    await write(n, "pw-2");
    await agent.waitForLog(isMsg("event refused", { code: "event_replayed" }), from);
    expect(agent.logs().slice(from).filter(isMsg("secret written"))).toHaveLength(1);
    expect(await n.reloads("db-password")).toBe(reloadsBefore + 1);
  });

  it("refuses a real event whose claims a proxy rewrote under the original signature, and writes nothing", async () => {
    proxy.relay = "tampered";
    const n = await pinnedNode();
    const agent = await started(n);
    const from = agent.logs().length;
    await write(n, "pw-2");
    await agent.waitForLog(isMsg("event refused", { code: "event_signature_invalid" }), from);
    expect(agent.logs().slice(from).filter(isMsg("secret written"))).toEqual([]);
    expect(await readFile(n.secretFile("db-password"), "utf8")).toBe("pw-1");
  });
});
