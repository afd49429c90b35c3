import { describe, expect, it } from "vitest";
import type { AuditEventInput } from "../../../src/audit/audit-port.ts";
import type { DenialRecorder, UnverifiedRefusal } from "../../../src/audit/denial-recorder.ts";
import type { Domain } from "../../../src/identity/domains/domain.ts";
import { authenticateUser, type AuthenticateUserDependencies, type UserCredentialPresented } from "../../../src/identity/sessions/authenticate-user.ts";
import { csrfTokenFor, newBrowserSecret, secretDigest } from "../../../src/identity/sessions/session-secrets.ts";
import type { AdminSession, SessionRepository } from "../../../src/identity/sessions/session-repo.ts";
import { isCustosError } from "../../../src/platform/errors.ts";

// authenticateUser takes plain values (no Express request): these tests call it as the HTTP
// adapter does, with fakes for its ports, and read what it audited.

const NOW = 1_700_000_000;
const ACME: Domain = { id: "acme", issuer: "https://idp.example", clientId: "custos", admins: ["alice"], auditors: [] };
const ALICE: AdminSession = { domain: "acme", subject: "oidc:acme:alice", acr: undefined, amr: ["pwd"], authTime: NOW - 60, expiresAt: NOW + 3600 };

function world(sessions: ReadonlyMap<string, AdminSession>) {
  const appended: AuditEventInput[] = [];
  const unverified: UnverifiedRefusal[] = [];
  const denials: DenialRecorder = {
    record: (event) => { appended.push(event); return Promise.resolve(); },
    recordUnverified: (refusal) => { unverified.push(refusal); return Promise.resolve(); },
    flush: () => Promise.resolve(),
  };
  const repository: Pick<SessionRepository, "findActiveSession"> = { findActiveSession: (digest) => Promise.resolve(sessions.get(digest)) };
  const deps: AuthenticateUserDependencies = {
    domains: { find: (id) => Promise.resolve(id === ACME.id ? ACME : undefined), upsert: () => Promise.reject(new Error("not here")) },
    sessions: repository as SessionRepository,
    idTokens: { verify: () => Promise.reject(new Error("no id_tokens in these tests")) },
    audit: { append: (event) => { appended.push(event); return Promise.resolve({ chain: event.chain, seq: appended.length, hash: "0".repeat(64) }); } },
    denials,
    now: () => NOW,
  };
  return { deps, appended, unverified };
}

function presented(overrides: Partial<UserCredentialPresented>): UserCredentialPresented {
  return { domainId: "acme", authorization: undefined, sessionCookie: undefined, csrfToken: undefined, method: "GET", address: "192.0.2.7", requestId: "req-1", ...overrides };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "accepted";
  } catch (error) {
    return isCustosError(error) ? error.code : "unexpected";
  }
}

describe("authenticateUser, from plain inputs", () => {
  const secret = newBrowserSecret();
  const sessions = new Map([[secretDigest(secret), ALICE]]);

  it("accepts the session cookie of a signed-in user of the domain", async () => {
    const { deps } = world(sessions);
    const credential = await authenticateUser(deps, presented({ sessionCookie: secret }));
    expect(credential).toMatchObject({ kind: "user", via: "session", domain: "acme", subject: "oidc:acme:alice" });
  });

  it("refuses a state-changing request without the session's CSRF token, and audits it against the user", async () => {
    const { deps, appended } = world(sessions);
    expect(await codeOf(authenticateUser(deps, presented({ sessionCookie: secret, method: "POST", csrfToken: "wrong" })))).toBe("csrf_failed");
    expect(appended).toMatchObject([{ chain: "acme", actor: "user:oidc:acme:alice", decision: "denied", reason: "csrf_failed", requestId: "req-1" }]);
  });

  it("accepts a state-changing request with the session's CSRF token", async () => {
    const { deps } = world(sessions);
    expect(await codeOf(authenticateUser(deps, presented({ sessionCookie: secret, method: "POST", csrfToken: csrfTokenFor(secret) })))).toBe("accepted");
  });

  it.each([
    ["no credential", presented({}), "no_credential"],
    ["a malformed cookie", presented({ sessionCookie: "x" }), "malformed_session_cookie"],
    ["an unknown session", presented({ sessionCookie: newBrowserSecret() }), "session_unknown_or_expired"],
    ["a malformed bearer", presented({ authorization: "Bearer not-a-jwt" }), "malformed_authorization"],
    ["an unknown domain", presented({ domainId: "nope", sessionCookie: secret }), "unknown_domain"],
  ])("refuses %s as invalid_token, recorded with its reason and the source address", async (_name, input, reason) => {
    const { deps, unverified } = world(sessions);
    expect(await codeOf(authenticateUser(deps, input))).toBe("invalid_token");
    expect(unverified).toMatchObject([{ action: "auth.authenticate", reason, source: "192.0.2.7", requestId: "req-1" }]);
  });
});
