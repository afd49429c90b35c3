import { describe, expect, it } from "vitest";
import { duration, explainRefusal, explainStepUp, explainVerificationFailure } from "../../src/console/browser/explain.ts";

describe("the console's words for refusals", () => {
  it("says a password-only sign-in needs a second factor within the policy's max_age", () => {
    expect(explainStepUp({ status: 401, code: "step_up_required", acr_values: ["urn:custos:acr:mfa"], max_age: 120, reason: "acr_missing" })).toBe(
      "This action needs a sign-in with a second factor (for example a one-time code or a security key) within the last 2 minutes. Your current sign-in used a password only.",
    );
  });

  it("says a stale sign-in is too old, and names an acr it has no words for", () => {
    expect(explainStepUp({ status: 401, code: "step_up_required", acr_values: ["urn:acme:hwk"], max_age: 90, reason: "auth_time_stale" })).toBe(
      "This action needs a sign-in with the sign-in method “urn:acme:hwk” within the last 90 seconds. Your sign-in is too old for it.",
    );
  });

  it("writes durations the way people say them", () => {
    expect([duration(1), duration(60), duration(300), duration(3600), duration(7200), duration(61)]).toEqual(["1 second", "1 minute", "5 minutes", "1 hour", "2 hours", "61 seconds"]);
  });

  it("names a verification failure's kind and seq and says what it means", () => {
    expect(explainVerificationFailure({ kind: "hash_mismatch", seq: 2 })).toBe(
      "FAILURE hash_mismatch at seq 2: a record's content no longer matches its hash: the record was changed after it was written.",
    );
  });

  it("shows a refusal as a sentence with its code and request id", () => {
    expect(explainRefusal({ status: 403, code: "permission_denied", request_id: "r-1" })).toBe("You do not have permission for this in this domain. — permission_denied, request r-1");
    expect(explainRefusal({ status: 503, code: "audit_unavailable", detail: "the audit store did not answer", request_id: "r-2" })).toBe(
      "Custos could not record this action in the audit log, so it did not do it. Try again shortly. (the audit store did not answer) — audit_unavailable, request r-2",
    );
  });
});
