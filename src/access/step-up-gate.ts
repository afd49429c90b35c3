import type { Credential, UserCredential } from "../identity/credentials.ts";
import { isChallengeSafe } from "../http/challenges.ts";
import { CustosError } from "../platform/errors.ts";
import type { StepUpRequirement } from "./step-up-policy.ts";
import { assertLeewaySeconds } from "../platform/config.ts";

/**
 * The step-up gate (DESIGN.md, "Step-up (RFC 9470)"): does this credential's authentication
 * satisfy what an elevated action demands? Evaluation is a pure function of the requirement,
 * the credential, the current time and the clock leeway, so every boundary is testable to the
 * second. The caller audits the decision (its `reason` is stable) and, on denial, throws
 * `stepUpRequired(decision)`.
 *
 * Freshness and leeway. The challenge advertises `max_age`, and exactly that is enforced:
 *   - allowed while  now - auth_time <= max_age   (the boundary second itself passes and one
 *     second later is `auth_time_stale`, whatever the leeway);
 *   - `auth_time_in_future` once  auth_time > now + leeway.
 * The leeway is for future-dated claims only (a provider clock slightly ahead of ours). It
 * never extends the freshness window: a gate that allowed max_age + leeway would accept an
 * authentication the challenge itself calls too old.
 */

/** Stable reason codes; they are written to the audit log and returned in the problem body. */
export type StepUpDenialReason =
  | "not_interactive_user"
  | "acr_missing"
  | "acr_not_acceptable"
  | "amr_insufficient"
  | "amr_without_acr"
  | "auth_time_missing"
  | "auth_time_stale"
  | "auth_time_in_future";

export interface StepUpAllowed {
  readonly allowed: true;
}

export interface StepUpDenied {
  readonly allowed: false;
  readonly reason: StepUpDenialReason;
  /** What would have been enough; repeated to the client so it can step up. */
  readonly requirement: StepUpRequirement;
}

export type StepUpDecision = StepUpAllowed | StepUpDenied;

interface Clock {
  /** Seconds since the epoch. */
  readonly now: number;
  /** Seconds a provider clock may run ahead of ours (future-dated auth_time only). */
  readonly leeway: number;
}

/** One named check: a reason when it fails, undefined when it passes. */
type Check = (requirement: StepUpRequirement, user: UserCredential, clock: Clock) => StepUpDenialReason | undefined;

function hasQualifyingAmr(requirement: StepUpRequirement, user: UserCredential): boolean {
  return user.amr.some((method) => requirement.amrAny.includes(method));
}

/*
 * An absent acr and an empty one are the same thing: the provider asserted no authentication
 * context. Whether amr alone may stand in for it is the policy's call (allow_amr_without_acr),
 * off by default: amr is a list of methods the provider reports, not a statement that they
 * meet a level, and providers differ in what they put there.
 */
const checkAcr: Check = (requirement, user) => {
  if (user.acr === undefined || user.acr === "") {
    if (requirement.allowAmrWithoutAcr) return undefined; // the amr check decides alone
    return hasQualifyingAmr(requirement, user) ? "amr_without_acr" : "acr_missing";
  }
  if (!requirement.acr.includes(user.acr)) return "acr_not_acceptable";
  return undefined;
};

const checkAmr: Check = (requirement, user) => (hasQualifyingAmr(requirement, user) ? undefined : "amr_insufficient");

const checkAuthTime: Check = (requirement, user, clock) => {
  const authTime = user.authTime;
  // NaN or Infinity cannot be compared meaningfully: treat them as no auth_time at all.
  if (authTime === undefined || !Number.isFinite(authTime)) return "auth_time_missing";
  if (authTime > clock.now + clock.leeway) return "auth_time_in_future";
  if (clock.now - authTime > requirement.maxAge) return "auth_time_stale";
  return undefined;
};

/** In order: the first failing check names the denial. */
const CHECKS: readonly Check[] = [checkAcr, checkAmr, checkAuthTime];

function assertWholeSeconds(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    // A caller bug (milliseconds, Date.now() / 1000 unfloored, a negative leeway that would
    // silently tighten every window): fail loudly rather than decide on a wrong clock.
    throw new RangeError(`${name} must be a non-negative whole number of seconds`);
  }
}

/**
 * Decides whether `credential` may perform an elevated action that demands `requirement`.
 * Only interactive users can step up; operator and node credentials are always denied.
 *
 * @param now seconds since the epoch
 * @param leewaySeconds tolerated clock skew (config.oidcLeewaySeconds), applied to a future
 *   `auth_time` only; freshness is exactly `requirement.maxAge`
 * @throws RangeError when `now` is not a non-negative whole number, or `leewaySeconds` is outside
 *   [0, MAX_OIDC_LEEWAY_SECONDS].
 */
export function evaluateStepUp(requirement: StepUpRequirement, credential: Credential, now: number, leewaySeconds: number): StepUpDecision {
  assertWholeSeconds("now", now);
  assertLeewaySeconds(leewaySeconds);
  if (credential.kind !== "user") return { allowed: false, reason: "not_interactive_user", requirement };
  const clock: Clock = { now, leeway: leewaySeconds };
  for (const check of CHECKS) {
    const reason = check(requirement, credential, clock);
    if (reason !== undefined) return { allowed: false, reason, requirement };
  }
  return { allowed: true };
}

// ---- the refusal ---------------------------------------------------------------------------

/*
 * Human text for error_description. RFC 6750 §3 allows only %x20-21 / %x23-5B / %x5D-7E there
 * (no '"', no '\'), so these stay plain ASCII; they say what to do, never what the token held.
 */
const DESCRIPTIONS: Readonly<Record<StepUpDenialReason, string>> = {
  not_interactive_user: "This action requires an interactive user's authentication",
  acr_missing: "The authentication states no authentication context class; sign in again with one of the required classes",
  acr_not_acceptable: "The authentication context class is not sufficient for this action",
  amr_insufficient: "None of the required authentication methods was used",
  amr_without_acr: "Authentication methods alone are not accepted; an authentication context class is required",
  auth_time_missing: "The time of authentication is unknown; sign in again",
  auth_time_stale: "More recent authentication is required",
  auth_time_in_future: "The time of authentication is in the future; sign in again",
};

/**
 * The refusal for a denied decision: 401 `step_up_required`, with the required values and the
 * reason in the problem body; the edge turns those into the RFC 9470 §3 challenge
 * (src/http/challenges.ts). Values are validated at policy load, so one a header could not
 * carry is a defect, refused here rather than sent.
 */
export function stepUpRequired(denial: StepUpDenied): CustosError {
  const description = DESCRIPTIONS[denial.reason];
  if (!denial.requirement.acr.every(isChallengeSafe)) throw new TypeError("a WWW-Authenticate parameter must be printable ASCII");
  return new CustosError("step_up_required", {
    detail: description,
    extensions: {
      acr_values: [...denial.requirement.acr],
      max_age: denial.requirement.maxAge,
      reason: denial.reason,
    },
  });
}
