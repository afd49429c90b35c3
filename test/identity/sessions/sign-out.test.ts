import { describe, expect, it } from "vitest";
import type { DenialRecorder } from "../../../src/audit/denial-recorder.ts";
import { signOut, type SignInDependencies } from "../../../src/identity/sessions/sign-in.ts";
import { csrfTokenFor, newBrowserSecret, secretDigest } from "../../../src/identity/sessions/session-secrets.ts";
import type { AdminSession, SessionRepository } from "../../../src/identity/sessions/session-repo.ts";
import { CustosError } from "../../../src/platform/errors.ts";

// Sign-out removes access, so it is the one change made before its record: an audit store that
// cannot answer must never keep a session alive (docs/design.md, "Audit first, for every change").

const NOW = 1_700_000_000;
const ALICE: AdminSession = { domain: "acme", subject: "oidc:acme:alice", acr: undefined, amr: ["pwd"], authTime: NOW - 60, expiresAt: NOW + 3600 };

function world(audit: SignInDependencies["audit"]) {
  const secret = newBrowserSecret();
  const live = new Map([[secretDigest(secret), ALICE]]);
  const sessions: Pick<SessionRepository, "findActiveSession" | "endSession"> = {
    findActiveSession: (digest) => Promise.resolve(live.get(digest)),
    endSession: (digest) => { live.delete(digest); return Promise.resolve(); },
  };
  const denials: DenialRecorder = { record: () => Promise.resolve(), recordUnverified: () => Promise.resolve(), flush: () => Promise.resolve() };
  const deps = {
    domains: { find: () => Promise.resolve(undefined), upsert: () => Promise.reject(new Error("not here")) },
    sessions: sessions as SessionRepository,
    provider: {} as SignInDependencies["provider"],
    audit,
    denials,
    now: () => NOW,
    publicUrl: undefined,
  } satisfies SignInDependencies;
  return { deps, secret, live };
}

describe("signOut", () => {
  it("ends the session and records session.end", async () => {
    const recorded: string[] = [];
    const { deps, secret, live } = world({ append: (event) => { recorded.push(`${event.action}:${event.actor}`); return Promise.resolve({ chain: event.chain, seq: 1, hash: "0".repeat(64) }); } });
    await signOut(deps, { sessionSecret: secret, csrfToken: csrfTokenFor(secret), requestId: "req-1" });
    expect(live.size).toBe(0);
    expect(recorded).toEqual(["session.end:user:oidc:acme:alice"]);
  });

  it("ends the session even when the audit store cannot answer, and still reports the audit failure", async () => {
    const { deps, secret, live } = world({ append: () => Promise.reject(new CustosError("audit_unavailable")) });
    await expect(signOut(deps, { sessionSecret: secret, csrfToken: csrfTokenFor(secret), requestId: "req-2" })).rejects.toMatchObject({ code: "audit_unavailable" });
    expect(live.size).toBe(0);
  });

  it("refuses without the session's CSRF token and leaves the session alone", async () => {
    const { deps, secret, live } = world({ append: () => Promise.reject(new Error("nothing to record")) });
    await expect(signOut(deps, { sessionSecret: secret, csrfToken: "wrong", requestId: "req-3" })).rejects.toMatchObject({ code: "csrf_failed" });
    expect(live.size).toBe(1);
  });
});
