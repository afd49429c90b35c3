import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyChain } from "../../src/audit/audit-verifier.ts";
import { streamRecordPages } from "../../src/audit/audit-store.ts";
import { buildCustos, type Custos } from "../../src/custos.ts";
import { testConfig } from "../support/config.ts";
import { serveOnLoopback, type TestServer } from "../support/http.ts";
import { captureLogger, type CapturedLogger } from "../support/logger.ts";
import { createIsolatedStore, storeKinds, type IsolatedStore } from "../support/stores.ts";
import { appendEvents, rowsOf } from "./audit-fixtures.ts";

const OPERATOR_TOKEN = randomBytes(32).toString("base64url");

describe.each(storeKinds())("the platform chain's audit API behind the operator token on %s", (kind) => {
  let store: IsolatedStore;
  let custos: Custos;
  let server: TestServer;
  let captured: CapturedLogger;

  beforeAll(async () => {
    store = await createIsolatedStore(kind);
    captured = captureLogger();
    custos = await buildCustos({ config: testConfig({ CUSTOS_OPERATOR_TOKEN: OPERATOR_TOKEN }), database: store.db, logger: captured.logger });
    server = await serveOnLoopback(custos.app);
    await appendEvents(custos.audit, "platform", 12);
  });
  afterAll(async () => {
    await server.close();
    await custos.close();
    await store.dispose();
  });

  const get = (path: string, token?: string) =>
    fetch(`${server.url}${path}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

  it("reports a verifying chain with its head to the operator, and audits the use on the platform chain", async () => {
    const response = await get("/v1/domains/platform/audit/verify", OPERATOR_TOKEN);
    expect(response.status).toBe(200);
    const report = (await response.json()) as Record<string, unknown>;
    // The twelve events, and the operator's own authentication, committed before the report.
    expect(report).toMatchObject({ chain: "platform", ok: true, rows_checked: 13, failure: null, head: { seq: 13 } });
    const platform = await rowsOf(store.db, "platform");
    expect(platform.at(-1)).toMatchObject({
      actor: "operator",
      action: "operator.authenticate",
      decision: "granted",
      reason: "ok",
      request_id: response.headers.get("x-request-id"),
    });
  });

  it("refuses a wrong operator token with 401 invalid_token, audited with its reason, the token in no row or log", async () => {
    const wrong = randomBytes(32).toString("base64url");
    const response = await get("/v1/domains/platform/audit/verify", wrong);
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    expect(await response.json()).toMatchObject({ code: "invalid_token" });
    const denied = (await rowsOf(store.db, "platform")).at(-1);
    expect(denied).toMatchObject({ decision: "denied", reason: "operator_token_mismatch", actor: "anonymous" });
    const everything = JSON.stringify(await store.db.query("SELECT * FROM audit_events")) + captured.lines().join("\n");
    expect(everything).not.toContain(wrong);
    expect(everything).not.toContain(OPERATOR_TOKEN);
  });

  it("refuses a request without credentials, audited as credential_missing", async () => {
    const response = await get("/v1/domains/platform/audit/events");
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="custos"');
    expect((await rowsOf(store.db, "platform")).at(-1)).toMatchObject({ decision: "denied", reason: "credential_missing" });
  });

  it("does not let the operator token read a domain's chain: that is for the domain's auditors", async () => {
    const response = await get("/v1/domains/acme/audit/verify", OPERATOR_TOKEN);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ code: "invalid_token" });
  });

  it("counts committed audit records and batches in /metrics", async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const records = /^custos_audit_records_total (\d+)/m.exec(text);
    expect(Number(records?.[1])).toBeGreaterThanOrEqual(12);
    expect(text).toMatch(/^custos_audit_batch_size_count \d+/m);
    // Every committed batch is counted by the way it went in; a chain's first batch takes the lock.
    const byPath = new Map([...text.matchAll(/^custos_audit_batches_total\{path="([a-z_]+)"\} (\d+)$/gm)].map((match) => [match[1], Number(match[2])]));
    expect(byPath.get("locked")).toBeGreaterThanOrEqual(1);
    expect([...byPath.values()].reduce((sum, count) => sum + count, 0)).toBe(Number(/^custos_audit_batch_size_count (\d+)/m.exec(text)?.[1]));
  });

  it("pages through events in seq order", async () => {
    const first = (await (await get("/v1/domains/platform/audit/events?limit=5", OPERATOR_TOKEN)).json()) as { events: { seq: number }[]; next_after: number };
    expect(first.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    const second = (await (await get(`/v1/domains/platform/audit/events?after=${String(first.next_after)}&limit=100`, OPERATOR_TOKEN)).json()) as { events: { seq: number }[] };
    const seqs = second.events.map((e) => e.seq);
    expect(seqs[0]).toBe(6);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 6));
  });

  it("filters events on the server by action, decision, actor and time, and says whether the chain goes on", async () => {
    type Page = { events: { seq: number; action: string; decision: string; actor: string; at: string }[]; next_after: number; more: boolean };
    const page = async (query: string) => (await (await get(`/v1/domains/platform/audit/events?${query}`, OPERATOR_TOKEN)).json()) as Page;
    const granted = await page("action=operator.authenticate&decision=granted&limit=1000");
    const rows = (await rowsOf(store.db, "platform")).filter((row) => row.action === "operator.authenticate" && row.decision === "granted");
    expect(granted.events.map((event) => event.seq)).toEqual(rows.map((row) => row.seq).filter((seq) => seq <= granted.next_after));
    expect(granted.events.length).toBeGreaterThan(1);
    expect(granted.events.every((event) => event.action === "operator.authenticate" && event.decision === "granted")).toBe(true);

    const first = await page("actor=perat&limit=1");
    expect(first.events).toHaveLength(1);
    expect(first.events[0]?.actor).toBe("operator");
    expect(first.more).toBe(true);
    const next = await page(`actor=perat&limit=1&after=${String(first.next_after)}`);
    expect(next.events[0]?.seq).toBeGreaterThan(first.events[0]?.seq ?? 0);

    const before = await page("until=2000-01-01T00:00:00Z");
    expect(before).toMatchObject({ events: [], more: false });
    const since = (first.events[0]?.at ?? "");
    expect((await page(`since=${encodeURIComponent(since)}&limit=1000`)).events.every((event) => event.at >= since)).toBe(true);
    const unfiltered = await page("limit=1000");
    expect(unfiltered.more).toBe(false);
  });

  it.each([
    ["/v1/domains/platform/audit/events?decision=maybe", 400, "invalid_request"],
    ["/v1/domains/platform/audit/events?since=yesterday", 400, "invalid_request"],
    ["/v1/domains/platform/audit/events?actor=a%20b", 400, "invalid_request"],
    ["/v1/domains/platform/audit/events?format=jsonl&action=secret.read", 400, "invalid_request"],
  ])("refuses the filter %s with %i %s", async (path, status, code) => {
    const response = await get(path, OPERATOR_TOKEN);
    expect(response.status).toBe(status);
    expect(await response.json()).toMatchObject({ code });
  });

  it.each([
    ["/v1/domains/ACME!/audit/verify", 400, "invalid_name"],
    ["/v1/domains/platform/audit/events?limit=5000", 400, "invalid_request"],
    ["/v1/domains/platform/audit/events?after=-1", 400, "invalid_request"],
  ])("answers %s with %i %s", async (path, status, code) => {
    const response = await get(path, OPERATOR_TOKEN);
    expect(response.status).toBe(status);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    expect(await response.json()).toMatchObject({ code });
  });

  it("signs a checkpoint of the head that verifies against the chain", async () => {
    const response = await fetch(`${server.url}/v1/domains/platform/audit/checkpoints`, { method: "POST", headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
    expect(response.status).toBe(201);
    const checkpoint = (await response.json()) as Parameters<typeof verifyChain>[0]["checkpoint"];
    const head = (await rowsOf(store.db, "platform")).at(-1);
    expect(checkpoint).toMatchObject({ chain: "platform", seq: head?.seq, hash: head?.hash, alg: "EdDSA" });
    const report = await verifyChain({ chain: "platform", records: streamRecordPages(store.db, "platform"), checkpoint, signer: custos.auditSigner });
    expect(report.ok).toBe(true);
  });

  it("answers 503 audit_unavailable, and serves nothing, when the operator's use cannot be audited", async () => {
    await store.db.query("ALTER TABLE audit_events ADD CONSTRAINT test_audit_down CHECK (action <> 'operator.authenticate') NOT VALID");
    try {
      const response = await get("/v1/domains/platform/audit/events", OPERATOR_TOKEN);
      expect(response.status).toBe(503);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ code: "audit_unavailable" });
      expect(body).not.toHaveProperty("events");
    } finally {
      await store.db.query("ALTER TABLE audit_events DROP CONSTRAINT test_audit_down");
    }
  });
});

describe("platform calls without an operator token configured", () => {
  it("answer 501 not_provisioned", async () => {
    const store = await createIsolatedStore("pglite");
    const custos = await buildCustos({ config: testConfig(), database: store.db });
    const server = await serveOnLoopback(custos.app);
    try {
      const response = await fetch(`${server.url}/v1/domains/platform/audit/verify`, { headers: { authorization: "Bearer anything" } });
      expect(response.status).toBe(501);
      expect(await response.json()).toMatchObject({ code: "not_provisioned" });
    } finally {
      await server.close();
      await custos.close();
      await store.dispose();
    }
  });
});
