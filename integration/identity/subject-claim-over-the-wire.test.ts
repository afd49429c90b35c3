import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRecords } from "../../src/audit/audit-store.ts";
import { startCustosWithProvider, type CustosWithProvider } from "../support/custos-with-provider.ts";
import { storeKinds } from "../support/stores.ts";

const CLIENT = "custos-zeta";
const KID = "zeta-1";

/**
 * A provider reduced to what Custos reads from it: discovery and a JWKS, on loopback. The test
 * holds the signing key, so it can mint correctly signed id_tokens with any `sub` or header.
 */
interface MintingIssuer {
  readonly issuer: string;
  mint(claims: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

async function startMintingIssuer(): Promise<MintingIssuer> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: KID, alg: "ES256", use: "sig" };
  let issuer = "";
  const server: Server = createServer((req, res) => {
    const documents: Record<string, unknown> = {
      "/.well-known/openid-configuration": {
        issuer,
        jwks_uri: `${issuer}/jwks`,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        response_types_supported: ["code"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["ES256"],
      },
      "/jwks": { keys: [jwk] },
    };
    const document = documents[req.url ?? ""];
    res.writeHead(document === undefined ? 404 : 200, { "content-type": "application/json" });
    res.end(JSON.stringify(document ?? { error: "not_found" }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  issuer = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  const key: CryptoKey = privateKey;
  return {
    issuer,
    mint(claims, header = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ acr: "urn:custos:acr:mfa", amr: ["pwd", "otp"], auth_time: now - 5, ...claims })
        .setProtectedHeader({ alg: "ES256", kid: KID, typ: "JWT", ...header })
        .setIssuer(issuer)
        .setAudience(CLIENT)
        .setIssuedAt(now)
        .setExpirationTime(now + 300)
        .sign(key);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => { resolve(); });
      }),
  };
}

/** Issue item 10 over the wire: a hostile `sub` in a correctly signed id_token is an audited 401. */
describe.each(storeKinds())("an id_token's sub and header over HTTP on %s", (kind) => {
  let env: CustosWithProvider;
  let idp: MintingIssuer;

  beforeAll(async () => {
    env = await startCustosWithProvider({ kind });
    idp = await startMintingIssuer();
    const created = await env.putDomain("zeta", { issuer: idp.issuer, client_id: CLIENT, admins: ["zed"], auditors: ["zed"] });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await idp.close();
    await env.close();
  });

  /** GET the zeta audit chain with a bearer; returns the response and its audit records. */
  async function present(token: string) {
    // Refusals without a verified identity are summarised per source: closing the open
    // windows first makes this request's refusal the first of a new run, written at once.
    await env.custos.denials.flush();
    const response = await env.api.verifyAudit(token, "zeta");
    const events = (await readRecords(env.custos.db, "zeta", 0, 100_000)).filter((event) => event.request_id === response.requestId);
    return { response, body: response.text, events };
  }

  it("serves the domain's auditor with a token the test issuer minted (the harness works)", async () => {
    const { response } = await present(await idp.mint({ sub: "zed" }));
    expect(response.status).toBe(200);
  });

  it.each([
    ["NUL", "zed\u0000"],
    ["a line feed", "zed\nadmin"],
    ["a carriage return", "zed\r"],
    ["an escape sequence", "\u001b[2Jzed"],
    ["DEL", "zed\u007f"],
    ["a C1 control", "zed\u0085"],
    ["a lone surrogate", "zed\ud800"],
    ["256 characters", "z".repeat(256)],
    ["258 bytes of UTF-8 in 86 characters", "\u20ac".repeat(86)],
    ["2048 characters", "z".repeat(2048)],
  ])("refuses a correctly signed token whose sub holds %s: 401 invalid_token, one audit record with sub_invalid", async (_what, sub) => {
    const { response, body, events } = await present(await idp.mint({ sub }));
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
    expect(JSON.parse(body)).toMatchObject({ code: "invalid_token" });
    expect(body).not.toContain("sub_invalid");
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor: "anonymous", action: "auth.authenticate", decision: "denied", reason: "sub_invalid" });
  });

  it.each([
    ["255 ASCII characters", "z".repeat(255)],
    ["255 bytes of UTF-8", "\u20ac".repeat(85)],
  ])("lets a sub of %s through to authorization (403 for a non-member, audited under its subject)", async (_what, sub) => {
    const { response, body, events } = await present(await idp.mint({ sub }));
    expect(response.status).toBe(403);
    expect(JSON.parse(body)).toMatchObject({ code: "permission_denied" });
    expect(events).toMatchObject([{ actor: `user:oidc:zeta:${sub}`, decision: "denied", reason: "permission_denied" }]);
  });

  it.each(["at+jwt", "application/at+jwt"])("refuses a correctly signed token with typ %s: 401 invalid_token, audited as typ_not_allowed", async (typ) => {
    const { response, events } = await present(await idp.mint({ sub: "zed" }, { typ }));
    expect(response.status).toBe(401);
    expect(events).toMatchObject([{ actor: "anonymous", decision: "denied", reason: "typ_not_allowed" }]);
  });

  it("refuses the auditor's valid token with its signature re-spelled non-canonically: 401, audited as malformed", async () => {
    const [header = "", payload = "", signature = ""] = (await idp.mint({ sub: "zed" })).split(".");
    // An ES256 signature is 64 bytes: 86 characters, the last one carrying 4 unused bits.
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const respelled = `${signature.slice(0, -1)}${alphabet.charAt(alphabet.indexOf(signature.slice(-1)) | 1)}`;
    expect(Buffer.from(respelled, "base64url").equals(Buffer.from(signature, "base64url"))).toBe(true);
    const { response, events } = await present(`${header}.${payload}.${respelled}`);
    expect(response.status).toBe(401);
    expect(events).toMatchObject([{ actor: "anonymous", decision: "denied", reason: "malformed" }]);
  });
});
