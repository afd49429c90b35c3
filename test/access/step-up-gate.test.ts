import type { Request } from "express";
import { describe, expect, it } from "vitest";
import { evaluateStepUp, stepUpRequired, type StepUpDenialReason, type StepUpDenied } from "../../src/access/step-up-gate.ts";
import type { StepUpRequirement } from "../../src/access/step-up-policy.ts";
import { challengeFor } from "../../src/http/challenges.ts";
import { problemDocument } from "../../src/http/problem.ts";
import type { CustosError } from "../../src/platform/errors.ts";
import type { Credential, NodeCredential, OperatorCredential, UserCredential } from "../../src/identity/credentials.ts";

const NOW = 1_700_000_000;
const MFA = "urn:custos:acr:mfa";

const REQUIREMENT: StepUpRequirement = {
  acr: [MFA],
  amrAny: ["otp", "hwk"],
  maxAge: 300,
  allowAmrWithoutAcr: false,
};

function user(overrides: Partial<UserCredential> = {}): UserCredential {
  return {
    kind: "user",
    via: "id_token",
    domain: "acme",
    subject: "oidc:acme:alice",
    acr: MFA,
    amr: ["pwd", "otp"],
    authTime: NOW - 10,
    ...overrides,
  };
}

function requirement(overrides: Partial<StepUpRequirement> = {}): StepUpRequirement {
  return { ...REQUIREMENT, ...overrides };
}

/** The reason of a denial, or "allowed". */
function outcome(credential: Credential, required: StepUpRequirement = REQUIREMENT, now = NOW, leeway = 0): StepUpDenialReason | "allowed" {
  const decision = evaluateStepUp(required, credential, now, leeway);
  return decision.allowed ? "allowed" : decision.reason;
}

function denial(reason: StepUpDenialReason, required: StepUpRequirement = REQUIREMENT): StepUpDenied {
  return { allowed: false, reason, requirement: required };
}

/** The challenge the edge sends for a refusal (a request that presented a bearer). */
function challengeOf(error: CustosError): string | undefined {
  const presentedBearer = { get: (name: string) => (name === "authorization" ? "Bearer x" : undefined) } as unknown as Request;
  return challengeFor(error, presentedBearer);
}

describe("evaluateStepUp: who may step up", () => {
  it("allows a user with an acceptable acr, a qualifying amr and a fresh auth_time", () => {
    expect(evaluateStepUp(REQUIREMENT, user(), NOW, 0)).toEqual({ allowed: true });
  });

  it("denies the operator credential as not_interactive_user", () => {
    const operator: OperatorCredential = { kind: "operator" };
    expect(outcome(operator)).toBe("not_interactive_user");
  });

  it("denies a node bearer as not_interactive_user", () => {
    const node: NodeCredential = { kind: "node", nodeId: "6f1c1f5e-8f7a-4a53-9d7e-3f0c2d1b0a99", domain: "acme", kid: "k1" };
    expect(outcome(node)).toBe("not_interactive_user");
  });

  it("returns the requirement with a denial, so the refusal can repeat it", () => {
    const required = requirement({ maxAge: 120 });
    expect(evaluateStepUp(required, user({ acr: "urn:custos:acr:pwd" }), NOW, 0)).toEqual({
      allowed: false,
      reason: "acr_not_acceptable",
      requirement: required,
    });
  });
});

describe("evaluateStepUp: acr", () => {
  it("denies with acr_missing when there is no acr and no qualifying amr", () => {
    expect(outcome(user({ acr: undefined, amr: ["pwd"] }))).toBe("acr_missing");
  });

  it("treats an empty acr as missing", () => {
    expect(outcome(user({ acr: "", amr: ["pwd"] }))).toBe("acr_missing");
  });

  it("denies with acr_not_acceptable when the acr is not in the policy's list", () => {
    expect(outcome(user({ acr: "urn:custos:acr:pwd" }))).toBe("acr_not_acceptable");
  });

  it("compares acr values exactly (no prefix or case folding)", () => {
    expect(outcome(user({ acr: "URN:custos:acr:mfa" }))).toBe("acr_not_acceptable");
    expect(outcome(user({ acr: `${MFA}:weak` }))).toBe("acr_not_acceptable");
  });

  it("allows any one of several acceptable acr values", () => {
    expect(outcome(user({ acr: "urn:acme:acr:hwk" }), requirement({ acr: [MFA, "urn:acme:acr:hwk"] }))).toBe("allowed");
  });
});

describe("evaluateStepUp: amr without acr", () => {
  it("denies with amr_without_acr when the amr qualifies but there is no acr and the policy does not opt in", () => {
    expect(outcome(user({ acr: undefined, amr: ["otp"] }))).toBe("amr_without_acr");
  });

  it("allows a qualifying amr without acr when the policy opts in", () => {
    expect(outcome(user({ acr: undefined, amr: ["otp"] }), requirement({ allowAmrWithoutAcr: true }))).toBe("allowed");
  });

  it("still denies with amr_insufficient when the policy opts in but the amr does not qualify", () => {
    expect(outcome(user({ acr: undefined, amr: ["pwd"] }), requirement({ allowAmrWithoutAcr: true }))).toBe("amr_insufficient");
  });

  it("still denies an acr that is present but not acceptable when the policy opts in", () => {
    expect(outcome(user({ acr: "urn:custos:acr:pwd", amr: ["otp"] }), requirement({ allowAmrWithoutAcr: true }))).toBe("acr_not_acceptable");
  });

  it("still applies freshness when the policy opts in", () => {
    const required = requirement({ allowAmrWithoutAcr: true });
    expect(outcome(user({ acr: undefined, amr: ["otp"], authTime: NOW - 301 }), required)).toBe("auth_time_stale");
  });
});

describe("evaluateStepUp: amr", () => {
  it("denies with amr_insufficient when none of the required methods was used", () => {
    expect(outcome(user({ amr: ["pwd"] }))).toBe("amr_insufficient");
  });

  it("denies with amr_insufficient when amr is empty", () => {
    expect(outcome(user({ amr: [] }))).toBe("amr_insufficient");
  });

  it("allows when any one of the required methods appears among others", () => {
    expect(outcome(user({ amr: ["pwd", "hwk"] }))).toBe("allowed");
  });
});

describe("evaluateStepUp: auth_time", () => {
  it("denies with auth_time_missing when the credential has no auth_time", () => {
    expect(outcome(user({ authTime: undefined }))).toBe("auth_time_missing");
  });

  it("denies with auth_time_missing when auth_time is not a finite number", () => {
    expect(outcome(user({ authTime: Number.NaN }))).toBe("auth_time_missing");
    expect(outcome(user({ authTime: Number.NEGATIVE_INFINITY }))).toBe("auth_time_missing");
  });

  it("allows when auth_time is exactly max_age old (the boundary second passes)", () => {
    expect(outcome(user({ authTime: NOW - 300 }))).toBe("allowed");
  });

  it("denies when auth_time is one second past max_age", () => {
    expect(outcome(user({ authTime: NOW - 301 }))).toBe("auth_time_stale");
  });

  it("uses the requirement's max_age, not a fixed window", () => {
    const required = requirement({ maxAge: 120 });
    expect(outcome(user({ authTime: NOW - 120 }), required)).toBe("allowed");
    expect(outcome(user({ authTime: NOW - 121 }), required)).toBe("auth_time_stale");
  });

  it("allows when auth_time is exactly max_age old with a leeway configured", () => {
    expect(outcome(user({ authTime: NOW - 300 }), REQUIREMENT, NOW, 30)).toBe("allowed");
  });

  it("denies when auth_time is one second past max_age even with a leeway: the leeway never extends freshness", () => {
    expect(outcome(user({ authTime: NOW - 301 }), REQUIREMENT, NOW, 30)).toBe("auth_time_stale");
    expect(outcome(user({ authTime: NOW - 301 }), REQUIREMENT, NOW, 120)).toBe("auth_time_stale");
  });

  it("denies an authentication max_age plus the leeway old, which the challenge's max_age already calls stale", () => {
    expect(outcome(user({ authTime: NOW - 330 }), REQUIREMENT, NOW, 30)).toBe("auth_time_stale");
  });

  it("enforces exactly the max_age the refusal advertises", () => {
    const required = requirement({ maxAge: 120 });
    const stale = evaluateStepUp(required, user({ authTime: NOW - 121 }), NOW, 30);
    expect(stale).toEqual({ allowed: false, reason: "auth_time_stale", requirement: required });
    if (stale.allowed) throw new Error("unreachable");
    expect(challengeOf(stepUpRequired(stale))).toContain('max_age="120"');
    expect(outcome(user({ authTime: NOW - 120 }), required, NOW, 30)).toBe("allowed");
  });

  it("allows max_age 0 only within the very second of authentication, whatever the leeway", () => {
    const required = requirement({ maxAge: 0 });
    expect(outcome(user({ authTime: NOW }), required, NOW, 30)).toBe("allowed");
    expect(outcome(user({ authTime: NOW - 1 }), required, NOW, 30)).toBe("auth_time_stale");
  });

  it("allows auth_time equal to now", () => {
    expect(outcome(user({ authTime: NOW }))).toBe("allowed");
  });

  it("denies with auth_time_in_future when auth_time is one second ahead and there is no leeway", () => {
    expect(outcome(user({ authTime: NOW + 1 }))).toBe("auth_time_in_future");
  });

  it("allows auth_time up to the leeway ahead of now", () => {
    expect(outcome(user({ authTime: NOW + 30 }), REQUIREMENT, NOW, 30)).toBe("allowed");
  });

  it("denies with auth_time_in_future when auth_time is one second beyond the leeway ahead", () => {
    expect(outcome(user({ authTime: NOW + 31 }), REQUIREMENT, NOW, 30)).toBe("auth_time_in_future");
  });
});

describe("evaluateStepUp: order and inputs", () => {
  it("reports acr before amr before auth_time when several checks fail", () => {
    expect(outcome(user({ acr: "urn:custos:acr:pwd", amr: ["pwd"], authTime: undefined }))).toBe("acr_not_acceptable");
    expect(outcome(user({ amr: ["pwd"], authTime: undefined }))).toBe("amr_insufficient");
  });

  it("refuses a fractional or negative now, and a fractional or negative leeway", () => {
    expect(() => evaluateStepUp(REQUIREMENT, user(), NOW + 0.5, 0)).toThrow(RangeError);
    expect(() => evaluateStepUp(REQUIREMENT, user(), -1, 0)).toThrow(RangeError);
    expect(() => evaluateStepUp(REQUIREMENT, user(), NOW, -1)).toThrow(RangeError);
    expect(() => evaluateStepUp(REQUIREMENT, user(), NOW, 0.5)).toThrow(RangeError);
  });
});

describe("stepUpRequired", () => {
  const issuance = requirement({ acr: [MFA, "urn:acme:acr:hwk"], maxAge: 120 });

  it("is a step_up_required error", () => {
    expect(stepUpRequired(denial("auth_time_stale", issuance)).code).toBe("step_up_required");
  });

  it("carries the exact RFC 9470 challenge", () => {
    expect(challengeOf(stepUpRequired(denial("auth_time_stale", issuance)))).toBe(
      'Bearer error="insufficient_user_authentication", error_description="More recent authentication is required", acr_values="urn:custos:acr:mfa urn:acme:acr:hwk", max_age="120"',
    );
  });

  it("repeats the acceptable acr values, max_age and the reason in the problem body", () => {
    const document = problemDocument(stepUpRequired(denial("acr_not_acceptable", issuance)), "req-1");
    expect(document).toMatchObject({
      status: 401,
      code: "step_up_required",
      acr_values: [MFA, "urn:acme:acr:hwk"],
      max_age: 120,
      reason: "acr_not_acceptable",
    });
  });

  it("escapes a quote or backslash inside a challenge value", () => {
    const header = challengeOf(stepUpRequired(denial("acr_missing", requirement({ acr: ['a"b', "c\\d"] }))));
    expect(header).toContain('acr_values="a\\"b c\\\\d"');
  });

  it("refuses to put a control character into the challenge", () => {
    expect(() => stepUpRequired(denial("acr_missing", requirement({ acr: ["a\r\nSet-Cookie: x=y"] })))).toThrow(TypeError);
  });

  it("gives every reason an error_description that RFC 6750 allows", () => {
    const reasons: readonly StepUpDenialReason[] = [
      "not_interactive_user",
      "acr_missing",
      "acr_not_acceptable",
      "amr_insufficient",
      "amr_without_acr",
      "auth_time_missing",
      "auth_time_stale",
      "auth_time_in_future",
    ];
    for (const reason of reasons) {
      const header = challengeOf(stepUpRequired(denial(reason)));
      // error_description: %x20-21 / %x23-5B / %x5D-7E, non-empty.
      expect(header, reason).toMatch(/ error_description="[\x20\x21\x23-\x5B\x5D-\x7E]+", /);
    }
  });
});
