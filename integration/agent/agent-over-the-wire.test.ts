import { spawn } from "node:child_process";
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventKeyThumbprint } from "../../src/agent/event-key-pinning.ts";
import { CUSTOS_BIN, REPO_ROOT, runCliProcess } from "../support/cli.ts";
import { nodeBearer, startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";
import { agentNode, type AgentNode } from "./support/agent-node.ts";
import { startAgentProcess, type AgentLogLine, type AgentProcess } from "./support/agent-process.ts";
import {
  es256Event, forgedEvent, newTestEventKey, nowSeconds, signEvent, startEventStreamFixture, unsignedEvent, type EventClaims, type EventStreamFixture,
} from "./support/event-stream-fixture.ts";

/**
 * The node agent (issue 19) over the wire: a real Custos (enrollment, secret writes and
 * reads, NSK rotation) behind the event stream fixture, which serves the signed-event
 * contract and lets each test inject what the agent must refuse. The agent runs as the
 * compiled `custos node agent`, as an operator runs it. Each test has its own domain, node
 * and directory.
 */
describe("custos node agent", () => {
  let env: CustosWithProvider;
  let fixture: EventStreamFixture;
  const running = new Set<AgentProcess>();

  beforeAll(async () => {
    env = await startCustosWithProvider({ kind: "pglite" });
    fixture = await startEventStreamFixture({ target: env.server.url, heartbeatMs: 1000 });
  });
  afterAll(async () => {
    for (const agent of running) await agent.stop();
    await fixture.close();
    await env.close();
  });

  const signingKey = () => fixture.publishedKeys[0] ?? newTestEventKey();
  const event = (n: AgentNode, type: string, data: Record<string, unknown>, overrides: Partial<EventClaims> = {}): EventClaims =>
    ({ domain: n.tenant.domain, nodeId: n.node.node_id, type, data, ...overrides });
  const sendSigned = async (n: AgentNode, claims: EventClaims) => fixture.send(n.node.node_id, await signEvent(signingKey(), claims));
  const isMsg = (msg: string, fields: Record<string, unknown> = {}) => (line: AgentLogLine) => line.msg === msg && Object.entries(fields).every(([key, value]) => line[key] === value);

  /** Starts the agent and waits until its stream is open and the sync after it done. */
  async function started(n: AgentNode, extra: readonly string[] = []): Promise<AgentProcess> {
    const agent = startAgentProcess(["--config", n.configFile, ...extra]);
    running.add(agent);
    const connections = fixture.connections(n.node.node_id).length;
    await fixture.waitForConnections(n.node.node_id, connections + 1);
    const opened = await agent.waitForLog(isMsg("event stream open"));
    await agent.waitForLog(isMsg("full sync done"), agent.logs().indexOf(opened));
    return agent;
  }
  async function stopped(agent: AgentProcess): Promise<number | null> {
    const code = await agent.stop();
    running.delete(agent);
    return code;
  }
  const refusedWith = (agent: AgentProcess, code: string, from: number) => agent.waitForLog(isMsg("event refused", { code }), from);

  it("--once writes every granted secret (0600 unless configured), reloads each once, exits 0; unchanged secrets are not rewritten or reloaded", async () => {
    const n = await agentNode(env, fixture.url, { secrets: { "db-password": "pw-1", "api-token": "tok-1" }, modes: { "api-token": "0640" } });
    const first = await runCliProcess(["node", "agent", "--config", n.configFile, "--once"]);
    expect(first.code, first.stderr).toBe(0);
    expect(await readFile(n.secretFile("db-password"), "utf8")).toBe("pw-1");
    expect((await stat(n.secretFile("db-password"))).mode & 0o777).toBe(0o600);
    expect((await stat(n.secretFile("api-token"))).mode & 0o777).toBe(0o640);
    expect([await n.reloads("db-password"), await n.reloads("api-token")]).toEqual([1, 1]);
    const before = await stat(n.secretFile("db-password"));
    const second = await runCliProcess(["node", "agent", "--config", n.configFile, "--once"]);
    expect(second.code).toBe(0);
    expect((await stat(n.secretFile("db-password"))).mtimeMs).toBe(before.mtimeMs);
    expect([await n.reloads("db-password"), await n.reloads("api-token")]).toEqual([1, 1]);
    for (const needle of ["pw-1", "tok-1", n.node.nsk, nodeBearer(n.node)]) expect(first.stderr + second.stderr).not.toContain(needle);
  });

  it("--once exits non-zero when a configured secret cannot be read, and still writes the others", async () => {
    const n = await agentNode(env, fixture.url, { secrets: { "db-password": "pw-1" }, ungranted: ["not-granted"] });
    const result = await runCliProcess(["node", "agent", "--config", n.configFile, "--once"]);
    expect(result.code).toBe(1);
    expect(await readFile(n.secretFile("db-password"), "utf8")).toBe("pw-1");
    expect(result.stderr).toMatch(/"msg":"secret not synced".*"secret":"not-granted".*permission_denied/);
  });

  it("refuses forged, replayed, stale, expired, other-key, other-domain, other-node, unsigned and non-EdDSA envelopes, changing nothing on disk", async () => {
    const n = await agentNode(env, fixture.url, { secrets: { "db-password": "pw-1" } });
    const agent = await started(n);
    // One applied event first, to have an envelope to replay.
    expect((await env.api.writeSecret(n.tenant.admin, n.tenant.domain, "db-password", { value: "pw-2" })).status).toBe(200);
    const update = event(n, "secret.updated", { name: "db-password", version: 2 });
    const genuine = await signEvent(signingKey(), update);
    const sentAt = agent.logs().length;
    fixture.send(n.node.node_id, genuine);
    await agent.waitForLog(isMsg("secret written", { version: 2 }), sentAt);
    await agent.waitForLog(isMsg("reload command ran"), sentAt);
    expect(await readFile(n.secretFile("db-password"), "utf8")).toBe("pw-2");
    // Custos now holds a value the agent would write if it acted on any of what follows.
    expect((await env.api.writeSecret(n.tenant.admin, n.tenant.domain, "db-password", { value: "pw-3" })).status).toBe(200);
    const before = await n.snapshot();
    const otherDomainKey = newTestEventKey();
    const pinnedKid = signingKey().kid;
    const next = { name: "db-password", version: 3 };
    const injected: [string, string][] = [
      ["event_signature_invalid", forgedEvent(genuine, event(n, "secret.revoked", { name: "db-password" }))],
      ["event_replayed", genuine],
      ["event_stale", await signEvent(signingKey(), event(n, "secret.updated", next, { iat: nowSeconds() - 400, exp: nowSeconds() - 340 }))],
      ["event_expired", await signEvent(signingKey(), event(n, "secret.updated", next, { iat: nowSeconds() - 120, exp: nowSeconds() - 60 }))],
      ["event_unknown_key", await signEvent(newTestEventKey(), event(n, "secret.updated", next))],
      ["event_unknown_key", await signEvent(otherDomainKey, event(n, "secret.updated", next, { iss: "urn:custos:domain:other-domain" }))],
      ["event_wrong_issuer", await signEvent(signingKey(), event(n, "secret.updated", next, { iss: "urn:custos:domain:other-domain" }))],
      ["event_wrong_audience", await signEvent(signingKey(), event(n, "secret.updated", next, { aud: "node:00000000-0000-4000-8000-000000000000" }))],
      ["event_alg_refused", unsignedEvent(pinnedKid, event(n, "secret.updated", next)).concat("AA")],
      ["event_malformed", unsignedEvent(pinnedKid, event(n, "secret.updated", next))],
      ["event_alg_refused", await es256Event(pinnedKid, event(n, "secret.updated", next))],
    ];
    for (const [code, jws] of injected) {
      const from = agent.logs().length;
      const id = fixture.send(n.node.node_id, jws);
      const refusal = await refusedWith(agent, code, from);
      expect(refusal.event_id).toBe(String(id));
    }
    expect(await n.snapshot()).toEqual(before);
    expect(await n.reloads("db-password")).toBe(2);
    for (const [, jws] of injected) expect(agent.stderr()).not.toContain(jws.split(".")[1] ?? jws);
    for (const needle of ["pw-2", "pw-3", n.node.nsk, nodeBearer(n.node)]) expect(agent.stderr()).not.toContain(needle);
    expect(await stopped(agent)).toBe(0);
  });

  it("rewrites a secret atomically on secret.updated: a reader polling the file never sees a partial value; then reloads", async () => {
    const values = ["a", "b", "c", "d"].map((letter) => letter.repeat(32 * 1024));
    const n = await agentNode(env, fixture.url, { secrets: { "big-secret": values[0] ?? "" } });
    const agent = await started(n);
    const seen = new Set<string>();
    const polling = { on: true };
    let reads = 0;
    const poller = (async () => {
      while (polling.on) {
        seen.add(await readFile(n.secretFile("big-secret"), "utf8"));
        reads += 1;
      }
    })();
    for (const [index, value] of values.slice(1).entries()) {
      expect((await env.api.writeSecret(n.tenant.admin, n.tenant.domain, "big-secret", { value })).status).toBe(200);
      const from = agent.logs().length;
      await sendSigned(n, event(n, "secret.updated", { name: "big-secret", version: index + 2 }));
      await agent.waitForLog(isMsg("secret written", { version: index + 2 }), from);
      await agent.waitForLog(isMsg("reload command ran"), from);
    }
    polling.on = false;
    await poller;
    expect(reads).toBeGreaterThan(0);
    expect([...seen].every((content) => values.includes(content)), "a read saw a value that is not one of those written").toBe(true);
    expect(await readFile(n.secretFile("big-secret"), "utf8")).toBe(values[3]);
    expect(await n.reloads("big-secret")).toBe(4);
    expect(await stopped(agent)).toBe(0);
  });

  it("removes the file of a revoked secret on secret.revoked", async () => {
    const n = await agentNode(env, fixture.url, { secrets: { "db-password": "pw-1", "kept": "k-1" } });
    const agent = await started(n);
    expect((await env.api.removeReader(n.tenant.admin, n.tenant.domain, "db-password", n.node.node_id)).status).toBe(204);
    await sendSigned(n, event(n, "secret.revoked", { name: "db-password" }));
    await agent.waitForLog(isMsg("secret file removed: the secret was revoked"));
    await expect(stat(n.secretFile("db-password"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(await readFile(n.secretFile("kept"), "utf8")).toBe("k-1");
    expect(await stopped(agent)).toBe(0);
  });

  it("exits 0 on SIGTERM; restarted, resumes with Last-Event-ID and does not apply an event it already applied", async () => {
    const n = await agentNode(env, fixture.url, { secrets: { "db-password": "pw-1" } });
    const first = await started(n);
    expect((await env.api.writeSecret(n.tenant.admin, n.tenant.domain, "db-password", { value: "pw-2" })).status).toBe(200);
    const id = await sendSigned(n, event(n, "secret.updated", { name: "db-password", version: 2 }));
    await first.waitForLog(isMsg("secret written", { version: 2 }));
    expect(await stopped(first)).toBe(0);
    expect((await readFile(path.join(n.stateDir, "last-event-id"), "utf8")).trim()).toBe(String(id));
    const reloads = await n.reloads("db-password");

    const second = await started(n);
    expect(fixture.connections(n.node.node_id).at(-1)).toBe(String(id));
    // A server (or a proxy) that delivers the applied event again: refused as a replay, nothing re-applied.
    const from = second.logs().length;
    fixture.resend(n.node.node_id, id);
    await refusedWith(second, "event_replayed", from);
    expect(await n.reloads("db-password")).toBe(reloads);
    expect(await stopped(second)).toBe(0);
  });

  it("rotates its NSK for real on nsk.rotate_requested; the new NSK reads, and its kid survives a restart", async () => {
    const n = await agentNode(env, fixture.url, { secrets: { "db-password": "pw-1" } });
    const agent = await started(n);
    await sendSigned(n, event(n, "nsk.rotate_requested", {}));
    const rotated = await agent.waitForLog(isMsg("NSK rotated on request"));
    const kid = rotated.kid as string;
    expect(kid).not.toBe(n.node.kid);
    const nsk = (await readFile(n.nskFile, "utf8")).trim();
    expect(nsk).not.toBe(n.node.nsk);
    expect(agent.stderr()).not.toContain(nsk);
    const read = await env.api.readSecret(nodeBearer({ kid, nsk }), n.node.node_id, "db-password");
    expect(read.status).toBe(200);
    expect(await stopped(agent)).toBe(0);
    const restarted = await started(n);
    expect(await restarted.waitForLog(isMsg("agent started"))).toMatchObject({ kid });
    expect(await stopped(restarted)).toBe(0);
  });

  it("re-pins on a keys.rotated signed by a pinned key, then verifies under the new key; a keys.rotated under an unpinned key is refused", async () => {
    const n = await agentNode(env, fixture.url, { secrets: { "db-password": "pw-1" } });
    const agent = await started(n);
    const rogue = newTestEventKey();
    const rogueRotation = await signEvent(rogue, event(n, "keys.rotated", { keys: [rogue.jwk] }));
    let from = agent.logs().length;
    fixture.send(n.node.node_id, rogueRotation);
    await refusedWith(agent, "event_unknown_key", from);
    const next = newTestEventKey();
    await sendSigned(n, event(n, "keys.rotated", { keys: [signingKey().jwk, next.jwk] }));
    await agent.waitForLog(isMsg("event keys re-pinned by a verified keys.rotated"));
    const pinned = JSON.parse(await readFile(path.join(n.stateDir, "event-keys.json"), "utf8")) as { keys: { kid: string }[] };
    expect(pinned.keys.map((key) => key.kid)).toEqual([signingKey().kid, next.kid]);
    from = agent.logs().length;
    fixture.send(n.node.node_id, await signEvent(next, event(n, "node.released", {})));
    await agent.waitForLog(isMsg("event verified", { type: "node.released", kid: next.kid }), from);
    expect(await stopped(agent)).toBe(0);
  });

  it("refuses to start when no published event key has the configured thumbprint, pinning nothing; starts with the right one", async () => {
    const wrong = newTestEventKey();
    const n = await agentNode(env, fixture.url, { secrets: { "db-password": "pw-1" }, config: { event_key_thumbprint: await eventKeyThumbprint(wrong.jwk) } });
    const refused = startAgentProcess(["--config", n.configFile]);
    expect(await refused.exited()).toBe(1);
    expect(refused.stderr()).toContain("event_key_thumbprint_mismatch");
    await expect(stat(path.join(n.stateDir, "event-keys.json"))).rejects.toMatchObject({ code: "ENOENT" });
    await expect(stat(n.secretFile("db-password"))).rejects.toMatchObject({ code: "ENOENT" });

    const right = await agentNode(env, fixture.url, { secrets: { "db-password": "pw-1" }, config: { event_key_thumbprint: await eventKeyThumbprint(signingKey().jwk) } });
    const agent = await started(right);
    expect(agent.logs().some(isMsg("event keys pinned; the configured thumbprint matched"))).toBe(true);
    expect(await stopped(agent)).toBe(0);
  });

  it("trusts on first use loudly without a thumbprint; --trust re-pins and says what changed", async () => {
    const n = await agentNode(env, fixture.url, { secrets: { "db-password": "pw-1" } });
    const first = await started(n);
    expect(first.logs().find((line) => line.msg.startsWith("TRUST ON FIRST USE"))).toMatchObject({ level: "warn" });
    expect(await stopped(first)).toBe(0);
    const added = newTestEventKey();
    fixture.publishedKeys.push(added);
    try {
      const trusted = await started(n, ["--trust"]);
      expect(trusted.logs().find(isMsg("event keys re-pinned by --trust"))).toMatchObject({ added: `${added.kid} (${await eventKeyThumbprint(added.jwk)})`, removed: "none" });
      expect(await stopped(trusted)).toBe(0);
    } finally {
      fixture.publishedKeys.pop();
    }
  });

  it("reconnects after the stream ends, with Last-Event-ID, and syncs in full: a secret changed while it was away is written", async () => {
    const n = await agentNode(env, fixture.url, { secrets: { "db-password": "pw-1" }, config: { grants_dir: "grants" } });
    const agent = await started(n);
    const grant = { grant: "header.claims.signature", jti: "grant-jti-1", expires_at: new Date(Date.now() + 60_000).toISOString() };
    const id = await sendSigned(n, event(n, "grant.issued", grant));
    await agent.waitForLog(isMsg("grant issued to this node", { grant_jti: "grant-jti-1" }));
    expect(await readFile(path.join(n.dir, "grants", "grant-jti-1.jwt"), "utf8")).toBe("header.claims.signature\n");
    expect(agent.stderr()).not.toContain("header.claims.signature");
    // Changed with no event sent: only the full sync on reconnection can bring it.
    expect((await env.api.writeSecret(n.tenant.admin, n.tenant.domain, "db-password", { value: "pw-2" })).status).toBe(200);
    const connections = fixture.connections(n.node.node_id).length;
    const from = agent.logs().length;
    fixture.endStreams(n.node.node_id);
    await fixture.waitForConnections(n.node.node_id, connections + 1);
    await agent.waitForLog(isMsg("secret written", { secret: "db-password", version: 2 }), from);
    expect(fixture.connections(n.node.node_id).at(-1)).toBe(String(id));
    expect(await readFile(n.secretFile("db-password"), "utf8")).toBe("pw-2");
    expect(await stopped(agent)).toBe(0);
  });

  it("custos node watch prints each verified event as a JSON line on stdout and each refusal as JSON on stderr; SIGTERM exits 0", async () => {
    const n = await agentNode(env, fixture.url, { secrets: { "db-password": "pw-1" } });
    const watch = spawn(process.execPath, [CUSTOS_BIN, "node", "watch", "--url", fixture.url, "--domain", n.tenant.domain, "--node-id", n.node.node_id, "--kid", n.node.kid, "--nsk-file", n.nskFile,
      "--event-key-thumbprint", await eventKeyThumbprint(signingKey().jwk)], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? "", NODE_ENV: "test" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    watch.stdout.on("data", (chunk: Buffer) => { stdout += chunk.toString(); });
    watch.stderr.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => { watch.on("close", resolve); });
    try {
      await fixture.waitForConnections(n.node.node_id, 1);
      const claims = event(n, "secret.updated", { name: "db-password", version: 2 }, { jti: "AAAAAAAAAAAAAAAAAAAAAA", iat: nowSeconds() });
      fixture.send(n.node.node_id, await signEvent(signingKey(), claims));
      fixture.send(n.node.node_id, await signEvent(signingKey(), { ...claims, aud: "node:00000000-0000-4000-8000-000000000000", jti: "BBBBBBBBBBBBBBBBBBBBBB" }));
      await expect.poll(() => stdout.includes("\n") && stderr.includes("event_wrong_audience"), { timeout: 20_000 }).toBe(true);
      expect(stdout.trim().split("\n").map((line) => JSON.parse(line) as unknown)).toEqual([{ type: "secret.updated", jti: claims.jti, iat: claims.iat, data: { name: "db-password", version: 2 } }]);
    } finally {
      watch.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  });

  it("refuses to start on a corrupt replay cache (exit 1, naming it) and on an invalid config (exit 2, naming the setting)", async () => {
    const n = await agentNode(env, fixture.url, { secrets: { "db-password": "pw-1" } });
    const agent = await started(n);
    expect(await stopped(agent)).toBe(0);
    const cache = path.join(n.stateDir, "replay-cache.json");
    await writeFile(cache, "{ truncated");
    const corrupt = await runCliProcess(["node", "agent", "--config", n.configFile]);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stderr).toContain(`the replay cache ${cache} is not JSON`);
    await rm(cache);

    await writeFile(n.configFile, (await readFile(n.configFile, "utf8")).replace(/^leeway_seconds:.*$/m, "").concat("leeway_seconds: 3600\n"));
    const invalid = await runCliProcess(["node", "agent", "--config", n.configFile]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain(`${n.configFile}: leeway_seconds`);
  });
});
