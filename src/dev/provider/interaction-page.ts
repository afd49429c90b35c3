/**
 * The development provider's sign-in page: plain HTML, two radio groups and a submit button,
 * so that a browser, `curl` and a test driving `fetch` all speak to it the same way.
 *
 * Form contract (POST, `application/x-www-form-urlencoded`, to `/interaction/<uid>/login`):
 *   account   one of the configured account ids
 *   strength  `password` or `mfa` (see {@link DEV_STRENGTHS})
 * Cancel: POST `/interaction/<uid>/abort` with an empty body (the client receives
 * `error=access_denied`). Both need the provider's `_interaction` cookie set by the redirect
 * that led to the page.
 */

export const DEV_ACR_PASSWORD = "urn:custos:acr:password";
export const DEV_ACR_MFA = "urn:custos:acr:mfa";

export type DevStrength = "password" | "mfa" | "otp-amr-only" | "mfa-acr-pwd-amr" | "no-acr-no-amr";

export interface StrengthDefinition {
  readonly label: string;
  /** Absent: the id_token carries no acr, as some providers do. */
  readonly acr: string | undefined;
  readonly amr: readonly string[];
}

/**
 * What each choice on the page asserts in the id_token (RFC 8176 amr values). The last three
 * imitate providers that report only part of the picture, so that every branch of the step-up
 * gate can be tried against a real provider.
 */
export const DEV_STRENGTHS: Readonly<Record<DevStrength, StrengthDefinition>> = {
  password: { label: "Password only", acr: DEV_ACR_PASSWORD, amr: ["pwd"] },
  mfa: { label: "Password + one-time code", acr: DEV_ACR_MFA, amr: ["pwd", "otp"] },
  "otp-amr-only": { label: "One-time code, reported as amr only (no acr)", acr: undefined, amr: ["otp"] },
  "mfa-acr-pwd-amr": { label: "Strong acr, but amr says password only", acr: DEV_ACR_MFA, amr: ["pwd"] },
  "no-acr-no-amr": { label: "Neither acr nor amr reported", acr: undefined, amr: [] },
};

export function isDevStrength(value: unknown): value is DevStrength {
  return typeof value === "string" && Object.hasOwn(DEV_STRENGTHS, value);
}

export interface DevAccount {
  /** Becomes the id_token `sub`. */
  readonly id: string;
  /** A person's name, as the `name` claim: "Alice". */
  readonly name: string;
  /** What the account is for, shown beside the name on the sign-in page: "demo admin". */
  readonly role?: string;
}

export interface LoginPageModel {
  readonly uid: string;
  readonly clientId: string;
  readonly accounts: readonly DevAccount[];
  readonly selectedAccount: string | undefined;
  readonly selectedStrength: DevStrength;
  /** Shown so a person can see why they are asked again. */
  readonly acrValues: string | undefined;
  readonly maxAge: string | undefined;
  readonly reasons: readonly string[];
  readonly problem: string | undefined;
}

const HTML_ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Every value on the page comes from a request or configuration: escape all of it. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character);
}

function radio(name: string, value: string, label: string, checked: boolean): string {
  const id = `${name}-${value}`;
  return `<div><input type="radio" id="${escapeHtml(id)}" name="${name}" value="${escapeHtml(value)}"${checked ? " checked" : ""}> <label for="${escapeHtml(id)}">${escapeHtml(label)}</label></div>`;
}

/** "Alice, the demo admin (signs in as alice)": a name, what the account is for, and its id. */
export function accountLabel(account: DevAccount): string {
  const role = account.role === undefined ? "" : `, the ${account.role}`;
  return account.name === account.id ? `${account.name}${role}` : `${account.name}${role} (signs in as ${account.id})`;
}

function accountChoices(model: LoginPageModel): string {
  const selected = model.selectedAccount ?? model.accounts[0]?.id;
  return model.accounts.map((account) => radio("account", account.id, accountLabel(account), account.id === selected)).join("\n");
}

function strengthChoices(model: LoginPageModel): string {
  return (Object.keys(DEV_STRENGTHS) as DevStrength[])
    .map((strength) => {
      const { label, acr, amr } = DEV_STRENGTHS[strength];
      const asserted = `the id_token says acr ${acr ?? "(none)"}, amr ${amr.length === 0 ? "(none)" : amr.join(" + ")}`;
      return radio("strength", strength, `${label} — ${asserted}`, strength === model.selectedStrength);
    })
    .join("\n");
}

/**
 * Why the provider shows the page, in words: oidc-provider's prompt reasons are identifiers
 * (`no_session`, `max_age`, …). An unknown one is shown as itself, after the known ones.
 */
const REASON_TEXT: Readonly<Record<string, string>> = {
  no_session: "you are not signed in to this provider yet",
  login_prompt: "the application asked you to sign in again, whoever was signed in before",
  max_age: "the application needs a more recent sign-in than the one this provider remembers",
  max_age_zero: "the application needs a sign-in made just now",
  acr_values_not_met: "the application needs a stronger sign-in than the one this provider remembers",
  essential_acr: "the application needs a stronger sign-in than the one this provider remembers",
  essential_acrs: "the application needs a stronger sign-in than the one this provider remembers",
  id_token_hint: "the application named a different account",
};

export function describeReasons(reasons: readonly string[]): string[] {
  const known = [...new Set(reasons.map((reason) => REASON_TEXT[reason]).filter((text): text is string => text !== undefined))];
  const unknown = reasons.filter((reason) => REASON_TEXT[reason] === undefined).map((reason) => `the provider's check "${reason}" asked for a sign-in`);
  return [...known, ...unknown];
}

function strengthNamesFor(acrValues: string): string {
  const names: Readonly<Record<string, string>> = { [DEV_ACR_PASSWORD]: "password only", [DEV_ACR_MFA]: "password + one-time code" };
  return acrValues.split(" ").map((acr) => names[acr] ?? acr).join(" or ");
}

function requestSummary(model: LoginPageModel): string {
  const lines = [`Signing in to: ${model.clientId}`];
  if (model.acrValues !== undefined) lines.push(`It asks for: ${strengthNamesFor(model.acrValues)} (requested acr_values: ${model.acrValues})`);
  if (model.maxAge !== undefined) {
    lines.push(model.maxAge === "0" ? "It needs a sign-in made now (max_age 0)" : `It needs a sign-in from the last ${model.maxAge} seconds (max_age ${model.maxAge})`);
  }
  const reasons = describeReasons(model.reasons);
  if (reasons.length > 0) lines.push(`You are asked because ${reasons.join("; ")}.`);
  return lines.map((line) => `<li>${escapeHtml(line)}</li>`).join("");
}

export function renderLoginPage(model: LoginPageModel): string {
  const base = `/interaction/${encodeURIComponent(model.uid)}`;
  const problem = model.problem === undefined ? "" : `<p role="alert"><strong>${escapeHtml(model.problem)}</strong></p>`;
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Custos development sign-in</title></head>
<body>
<h1>Custos development sign-in</h1>
<p>A development identity provider: no passwords are checked. Never use it in production.</p>
<ul>${requestSummary(model)}</ul>
${problem}
<form method="post" action="${base}/login">
<fieldset><legend>Account</legend>
${accountChoices(model)}
</fieldset>
<fieldset><legend>Authentication strength</legend>
${strengthChoices(model)}
</fieldset>
<button type="submit">Sign in</button>
</form>
<form method="post" action="${base}/abort"><button type="submit">Cancel</button></form>
</body>
</html>
`;
}

export function renderMessagePage(title: string, message: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></body>
</html>
`;
}

/** The strength a page offers first: the strongest one the client asked for, if any. */
export function preferredStrength(acrValues: unknown): DevStrength {
  if (typeof acrValues !== "string") return "password";
  const requested = acrValues.split(" ");
  return requested.includes(DEV_ACR_MFA) ? "mfa" : "password";
}

export interface LoginSubmission {
  readonly account: string;
  readonly strength: DevStrength;
}

/** Parses the login form: the choice, or the problem to show on the page again. */
export function parseLoginSubmission(body: string, accounts: readonly DevAccount[]): LoginSubmission | string {
  const form = new URLSearchParams(body);
  const account = form.get("account");
  const strength = form.get("strength");
  if (account === null || !accounts.some((candidate) => candidate.id === account)) return "choose one of the listed accounts";
  if (!isDevStrength(strength)) return "choose an authentication strength";
  return { account, strength };
}
