import { describe, expect, it } from "vitest";
import { bearerChallengeParameters, describeStepUp, mayReSignIn, reSignInParameters, stepUpChallengeOf } from "../../src/cli/login/step-up-challenge.ts";

const CHALLENGE =
  'Bearer error="insufficient_user_authentication", error_description="More recent authentication is required", acr_values="urn:custos:acr:mfa urn:custos:acr:hwk", max_age="300"';

describe("reading a step-up challenge", () => {
  it("reads quoted and token parameters, and text inside a quoted value is not a parameter", () => {
    expect(bearerChallengeParameters('Bearer realm="custos", error=invalid_token, error_description="a, b=\\"c\\""')).toEqual({
      realm: "custos",
      error: "invalid_token",
      error_description: 'a, b="c"',
    });
    expect(bearerChallengeParameters('Custos-NSK-Proof realm="custos"')).toBeUndefined();
  });

  it("takes acr_values and max_age from the header and the reason from the problem body", () => {
    expect(stepUpChallengeOf(CHALLENGE, { code: "step_up_required", reason: "auth_time_stale" })).toEqual({
      acrValues: "urn:custos:acr:mfa urn:custos:acr:hwk",
      maxAge: 300,
      reason: "auth_time_stale",
      description: "More recent authentication is required",
    });
  });

  it("is not a step-up challenge without error=insufficient_user_authentication", () => {
    expect(stepUpChallengeOf('Bearer error="invalid_token"', {})).toBeUndefined();
    expect(stepUpChallengeOf(null, { code: "step_up_required" })).toBeUndefined();
  });

  it("ignores a max_age that is not whole seconds", () => {
    expect(stepUpChallengeOf('Bearer error="insufficient_user_authentication", max_age="-5"', undefined)?.maxAge).toBeUndefined();
  });

  it("says in one line what is missing", () => {
    const challenge = stepUpChallengeOf(CHALLENGE, { reason: "acr_not_acceptable" });
    if (challenge === undefined) throw new Error("expected a challenge");
    const line = describeStepUp(challenge);
    expect(line).toBe("this action needs a sign-in of class urn:custos:acr:mfa or urn:custos:acr:hwk, made within the last 300 s (acr_not_acceptable)");
    expect(line).not.toContain("\n");
  });

  it("asks for prompt=login only when freshness is what failed", () => {
    const base = { acrValues: "urn:custos:acr:mfa", maxAge: 300, description: undefined };
    expect(reSignInParameters({ ...base, reason: "auth_time_stale" })).toEqual({ acrValues: "urn:custos:acr:mfa", maxAge: 300, prompt: "login" });
    expect(reSignInParameters({ ...base, reason: "acr_not_acceptable" }).prompt).toBeUndefined();
  });
});

describe("whether a refused action may open a sign-in by itself", () => {
  it("does at a terminal, and not under CI or without a TTY", () => {
    expect(mayReSignIn({ env: {}, stdinIsTty: true, stderrIsTty: true })).toBe(true);
    expect(mayReSignIn({ env: { CI: "true" }, stdinIsTty: true, stderrIsTty: true })).toBe(false);
    expect(mayReSignIn({ env: {}, stdinIsTty: false, stderrIsTty: true })).toBe(false);
    expect(mayReSignIn({ env: {}, stdinIsTty: true, stderrIsTty: false })).toBe(false);
  });

  it("does when CUSTOS_BROWSER names the program that receives the URL", () => {
    expect(mayReSignIn({ env: { CUSTOS_BROWSER: "firefox", CI: "true" }, stdinIsTty: false, stderrIsTty: false })).toBe(true);
  });
});
