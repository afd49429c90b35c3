import { escapeHtml, renderPage } from "./html.ts";

/** Who is signed in, as the start page tells them. */
export interface SignedInPerson {
  readonly domain: string;
  /** The provider's `sub` (not namespaced). */
  readonly sub: string;
  readonly acr: string | undefined;
  readonly amr: readonly string[];
  /** Epoch seconds. */
  readonly authTime: number | undefined;
  /** Epoch seconds. */
  readonly expiresAt: number;
  readonly admin: boolean;
  readonly auditor: boolean;
}

export interface LandingPageModel {
  readonly person: SignedInPerson | undefined;
}

function iso(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString();
}

function link(href: string, text: string): string {
  return `<a href="${escapeHtml(href)}">${escapeHtml(text)}</a>`;
}

function signedOut(): string {
  return `<p>Custos keeps secrets for fleet machines, lets admins act after a step-up, and lets auditors verify the audit log. You are not signed in.</p>
<form method="get" action="/sign-in">
<p><label for="domain">Sign in to your domain</label>
<input id="domain" name="domain" required pattern="[a-z0-9][a-z0-9-]{0,62}" placeholder="demo" autocomplete="on">
<button type="submit">Sign in</button></p>
</form>
<p class="note">Running <code>custos dev</code>? Its domain is <code>demo</code>: ${link("/auth/demo/login", "sign in to demo")} as alice (admin) or bob (auditor).</p>
<p class="note">Machines and scripts use the API: ${link("/v1/openapi.json", "the OpenAPI document")}; health at ${link("/readyz", "/readyz")}.</p>`;
}

function signedIn(person: SignedInPerson): string {
  const domain = encodeURIComponent(person.domain);
  const roles = [person.admin ? "an admin" : undefined, person.auditor ? "an auditor" : undefined].filter((role) => role !== undefined);
  const next: string[] = [`<li>Open ${link("/console/", "the console")}: your domain's nodes, secrets, grants and audit log.</li>`];
  if (person.auditor) {
    next.push(`<li>Verify the audit chain: ${link(`/v1/domains/${domain}/audit/verify`, `/v1/domains/${person.domain}/audit/verify`)}, and read its records at ${link(`/v1/domains/${domain}/audit/events`, "audit/events")}.</li>`);
  }
  if (person.admin) {
    next.push(
      "<li>Act as an admin (enrol nodes, write and grant secrets, issue grants) from a terminal: " +
        `<code>custos login ${domain}</code>, then <code>custos node enroll</code>, <code>custos secret put</code>, <code>custos grant</code> (README.md, journey 2); ` +
        "an action that needs a stronger or fresher sign-in makes the CLI sign you in again by itself.</li>",
    );
    next.push(`<li>Sign in again with a stronger method: ${link(`/auth/${domain}/login?acr_values=${encodeURIComponent("urn:custos:acr:mfa")}&max_age=0`, "step up now")} (the dev provider's &ldquo;password + one-time code&rdquo;).</li>`);
  }
  if (roles.length === 0) next.push("<li>This account is neither an admin nor an auditor of the domain: ask its operator to add you.</li>");
  next.push(`<li>Sign in as someone else: ${link(`/auth/${domain}/login`, `sign in to ${person.domain} again`)}.</li>`);
  next.push("<li>Sign out: <code>POST /auth/logout</code> with the CSRF token, or close the browser; the session ends by itself at the time above.</li>");
  return `<dl>
<dt>Signed in as</dt><dd>${escapeHtml(person.sub)}${roles.length === 0 ? "" : ` (${escapeHtml(roles.join(" and "))})`}</dd>
<dt>Domain</dt><dd>${escapeHtml(person.domain)}</dd>
<dt>Signed in at</dt><dd>${person.authTime === undefined ? "unknown (the provider did not say)" : `<time datetime="${escapeHtml(iso(person.authTime))}">${escapeHtml(iso(person.authTime))}</time>`}</dd>
<dt>Method</dt><dd>${escapeHtml(person.acr ?? "(no acr)")}${person.amr.length === 0 ? "" : `, amr ${escapeHtml(person.amr.join(" + "))}`}</dd>
<dt>Session ends</dt><dd><time datetime="${escapeHtml(iso(person.expiresAt))}">${escapeHtml(iso(person.expiresAt))}</time></dd>
</dl>
<h2>What you can do next</h2>
<ul>
${next.join("\n")}
</ul>`;
}

export function renderLandingPage(model: LandingPageModel): string {
  return renderPage("Custos", model.person === undefined ? signedOut() : signedIn(model.person));
}

/** A refusal, for a browser: what happened, the request id, and a way on. */
export function renderProblemPage(problem: { status: number; title: string; code: string; detail?: string; request_id: string }, nextStep: { href: string; text: string }): string {
  return renderPage(
    problem.title,
    `<p>${escapeHtml(problem.detail ?? problem.title)}</p>
<p>${link(nextStep.href, nextStep.text)}</p>
<p class="note">HTTP ${escapeHtml(String(problem.status))} <code>${escapeHtml(problem.code)}</code> · request id <code>${escapeHtml(problem.request_id)}</code></p>`,
  );
}
