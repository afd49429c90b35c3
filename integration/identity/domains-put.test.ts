import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRecords } from "../../src/audit/audit-store.ts";
import { domainRef, userRef } from "../../src/authz/object-ids.ts";
import { buildCustos, type Custos } from "../../src/custos.ts";
import { testConfig } from "../support/config.ts";
import { serveOnLoopback, type TestServer } from "../support/http.ts";
import { createIsolatedStore, type IsolatedStore } from "../support/stores.ts";

const OPERATOR_TOKEN = randomBytes(32).toString("base64url");

describe("PUT /v1/domains/{domain} by the operator", () => {
  let store: IsolatedStore;
  let custos: Custos;
  let server: TestServer;

  beforeAll(async () => {
    store = await createIsolatedStore("pglite");
    custos = await buildCustos({ config: testConfig({ CUSTOS_OPERATOR_TOKEN: OPERATOR_TOKEN }), database: store.db });
    server = await serveOnLoopback(custos.app);
  });
  afterAll(async () => {
    await server.close();
    await custos.close();
    await store.dispose();
  });

  const put = (domain: string, body: unknown, token = OPERATOR_TOKEN) =>
    fetch(`${server.url}/v1/domains/${domain}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const isMember = (domain: string, permission: "administer" | "audit", sub: string) =>
    custos.authorizer.check({ resource: domainRef(domain), permission, subject: userRef(`oidc:${domain}:${sub}`) });

  it("creates (201) then replaces (200) a domain, and SpiceDB holds exactly the listed admins and auditors", async () => {
    const first = await put("acme", { issuer: "https://idp.acme.example", client_id: "custos", admins: ["alice@acme"], auditors: ["bob"] });
    expect(first.status).toBe(201);
    expect(await isMember("acme", "administer", "alice@acme")).toBe(true);
    expect(await isMember("acme", "audit", "bob")).toBe(true);
    expect(await isMember("acme", "administer", "bob")).toBe(false);

    const second = await put("acme", { issuer: "https://idp.acme.example", client_id: "custos", admins: ["carol"], auditors: ["bob"] });
    expect(second.status).toBe(200);
    expect(await isMember("acme", "administer", "alice@acme")).toBe(false);
    expect(await isMember("acme", "administer", "carol")).toBe(true);

    const platform = await readRecords(custos.db, "platform", 0, 1000);
    expect(platform.filter((e) => e.action === "domain.put").map((e) => e.details.replaced)).toEqual([false, true]);
  });

  it("keeps one provider's subjects apart from another domain's with the same sub", async () => {
    await put("globex", { issuer: "https://idp.globex.example", client_id: "custos", admins: ["alice@acme"], auditors: [] });
    expect(await isMember("globex", "administer", "alice@acme")).toBe(true);
    expect(
      await custos.authorizer.check({ resource: domainRef("acme"), permission: "administer", subject: userRef("oidc:globex:alice@acme") }),
    ).toBe(false);
  });

  it.each([
    ["platform", { issuer: "https://idp.example", client_id: "c" }, 400, "invalid_name"],
    ["acme", { issuer: "http://idp.example", client_id: "c" }, 400, "invalid_request"],
    ["acme", { issuer: "https://idp.example" }, 400, "invalid_request"],
  ])("refuses PUT %s %j with %i %s", async (domain, body, status, code) => {
    const response = await put(domain, body);
    expect(response.status).toBe(status);
    expect(await response.json()).toMatchObject({ code });
  });

  it("documents the whole API in /v1/openapi.json, every security requirement naming a declared scheme", async () => {
    const document = (await (await fetch(`${server.url}/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { security?: Record<string, unknown>[] }>>;
      components: { securitySchemes: Record<string, unknown> };
    };
    for (const path of [
      "/v1/domains/{domain}", "/v1/domains/{domain}/grants", "/v1/domains/{domain}/jwks.json", "/v1/domains/{domain}/nodes",
      "/v1/domains/{domain}/secrets/{name}/readers/{node_id}", "/v1/nodes/{node_id}/secrets/{name}", "/v1/nodes/{node_id}/nsk/rotate",
      "/v1/domains/{domain}/audit/verify", "/auth/{domain}/login",
    ]) {
      expect(document.paths).toHaveProperty([path]);
    }
    for (const operations of Object.values(document.paths)) {
      for (const operation of Object.values(operations)) {
        for (const requirement of operation.security ?? []) {
          for (const scheme of Object.keys(requirement)) expect(document.components.securitySchemes).toHaveProperty(scheme);
        }
      }
    }
  });

  it("refuses a wrong operator token and changes nothing", async () => {
    const response = await put("initech", { issuer: "https://idp.initech.example", client_id: "c", admins: ["x"] }, randomBytes(32).toString("base64url"));
    expect(response.status).toBe(401);
    expect(await isMember("initech", "administer", "x")).toBe(false);
  });
});
