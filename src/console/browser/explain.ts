/**
 * What a refusal means, in the words a person uses. Pure functions with no DOM, so the unit
 * tests (test/console/) hold the wording to the codes the API sends.
 */

/** The part of a problem+json document the console reads. */
export interface Problem {
  readonly status: number;
  readonly code: string;
  readonly title?: string;
  readonly detail?: string;
  readonly request_id?: string;
  readonly reason?: string;
  readonly acr_values?: readonly string[];
  readonly max_age?: number;
  readonly sign_in_url?: string;
}

/** The acr values Custos's own policies use, as a person would say them. */
const ACR_WORDS: Readonly<Record<string, string>> = {
  "urn:custos:acr:mfa": "a second factor (for example a one-time code or a security key)",
};

/** "2 minutes", "90 seconds", "1 hour". */
export function duration(seconds: number): string {
  if (seconds % 3600 === 0 && seconds >= 3600) return plural(seconds / 3600, "hour");
  if (seconds % 60 === 0 && seconds >= 60) return plural(seconds / 60, "minute");
  return plural(seconds, "second");
}

function plural(amount: number, unit: string): string {
  return `${String(amount)} ${unit}${amount === 1 ? "" : "s"}`;
}

/**
 * The one sentence a step_up_required refusal becomes: "This action needs a sign-in with a
 * second factor … within the last 2 minutes."
 */
export function explainStepUp(problem: Problem): string {
  const methods = (problem.acr_values ?? []).map((acr) => ACR_WORDS[acr] ?? `the sign-in method “${acr}”`);
  const strength = methods.length === 0 ? "a stronger sign-in" : `a sign-in with ${methods.join(" or ")}`;
  const freshness = problem.max_age === undefined ? "" : problem.max_age === 0 ? ", made just now" : ` within the last ${duration(problem.max_age)}`;
  const why =
    problem.reason === "auth_time_stale"
      ? " Your sign-in is too old for it."
      : problem.reason === "acr_missing" || problem.reason === "acr_not_acceptable" || problem.reason === "amr_insufficient" || problem.reason === "amr_without_acr"
        ? " Your current sign-in used a password only."
        : "";
  return `This action needs ${strength}${freshness}.${why}`;
}

/** What an audit verification failure means, by its kind. */
const FAILURE_WORDS: Readonly<Record<string, string>> = {
  hash_mismatch: "a record's content no longer matches its hash: the record was changed after it was written",
  broken_link: "a record does not link to the one before it: a record was removed, replaced or reordered",
  gap: "a sequence number is missing: a record was removed",
  checkpoint_mismatch: "the chain does not reach the head its signed checkpoint vouches for: records were rewritten or removed",
  bad_signature: "a signature does not verify with the audit key: the checkpoint or manifest was not signed by this Custos",
  mirror_divergence: "the exported mirror differs from the database: one of them was changed",
};

export function explainVerificationFailure(failure: { readonly kind: string; readonly seq: number }): string {
  const meaning = FAILURE_WORDS[failure.kind] ?? "the chain did not verify";
  return `FAILURE ${failure.kind} at seq ${String(failure.seq)}: ${meaning}.`;
}

/** A refusal as a sentence with its code and request id, never raw JSON. */
export function explainRefusal(problem: Problem): string {
  const known: Readonly<Record<string, string>> = {
    permission_denied: "You do not have permission for this in this domain.",
    csrf_failed: "The request was refused because it did not carry this session's CSRF token; reload the page and try again.",
    invalid_token: "You are not signed in, or your sign-in has ended.",
    not_found: "It does not exist (any more).",
    audit_unavailable: "Custos could not record this action in the audit log, so it did not do it. Try again shortly.",
    authz_unavailable: "Custos could not check permissions just now, so it refused. Try again shortly.",
    secret_backend_unavailable: "The secret store is not answering, so Custos refused. Try again shortly.",
    store_unavailable: "The database is not answering, so Custos refused. Try again shortly.",
    rate_limited: "Too many requests; wait a moment and try again.",
  };
  const sentence = known[problem.code] ?? problem.detail ?? problem.title ?? "The request was refused.";
  const detail = known[problem.code] !== undefined && problem.detail !== undefined ? ` (${problem.detail})` : "";
  return `${sentence}${detail} — ${problem.code}${problem.request_id === undefined ? "" : `, request ${problem.request_id}`}`;
}
