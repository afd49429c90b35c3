import { api, domainPath, loadSession, Refusal, type Session } from "./api.ts";
import { ago, h, replace } from "./dom.ts";
import { explainRefusal, explainStepUp } from "./explain.ts";
import { auditPage } from "./pages/audit.ts";
import { grantsPage } from "./pages/grants.ts";
import { nodesPage } from "./pages/nodes.ts";
import { secretsPage } from "./pages/secrets.ts";
import { keepPending, type PendingAction } from "./pending.ts";

/**
 * The console: one page of HTML (served by console.routes.ts) and this module, which asks
 * the API who is signed in and shows the pages their roles allow. Every action is an API call
 * with the session cookie and the CSRF header; a refusal is shown as a sentence.
 */

export interface Roles {
  readonly admin: boolean;
  readonly auditor: boolean;
}

/** What every page gets: who is signed in, where to show notices, and the step-up handler. */
export interface ConsoleContext {
  readonly session: Session;
  readonly roles: Roles;
  /** Runs `work`; a refusal becomes a notice, a step-up refusal the step-up explanation. */
  readonly act: (pending: PendingAction, work: () => Promise<void>) => Promise<void>;
  readonly notify: (message: string, kind?: "ok" | "error") => void;
  /** Shows a refusal that is not about an action (a page that could not load). */
  readonly refused: (error: unknown) => void;
}

const PAGES = {
  nodes: { title: "Nodes", render: nodesPage, needs: "either" },
  secrets: { title: "Secrets", render: secretsPage, needs: "either" },
  grants: { title: "Grants", render: grantsPage, needs: "either" },
  audit: { title: "Audit", render: auditPage, needs: "auditor" },
} as const;
type PageName = keyof typeof PAGES;

const app = document.getElementById("app");
if (app !== null) void start(app);

async function start(root: HTMLElement): Promise<void> {
  let session: Session | undefined;
  try {
    session = await loadSession();
  } catch (error) {
    replace(root, h("p", { class: "notice error", role: "alert" }, describe(error)));
    return;
  }
  if (session === undefined) {
    replace(root, signInView());
    return;
  }
  let roles: Roles;
  try {
    roles = await rolesOf(session);
  } catch (error) {
    // Not "you have no role": Custos could not say. Fail closed, and say why.
    replace(root, h("p", { class: "notice error", role: "alert" }, describe(error)));
    return;
  }
  const notices = h("div", { class: "notices", "aria-live": "polite" });
  const content = h("main", { id: "content", tabindex: "-1" });
  const context: ConsoleContext = {
    session,
    roles,
    notify: (message, kind = "ok") => {
      replace(notices, h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, message));
    },
    refused: (error) => {
      replace(notices, h("p", { class: "notice error", role: "alert" }, describe(error)));
    },
    act: async (pending, work) => {
      replace(notices);
      try {
        await work();
      } catch (error) {
        if (error instanceof Refusal && error.problem.code === "step_up_required") showStepUp(notices, pending, error);
        else context.refused(error);
      }
    },
  };
  const signedOut = (endSessionUrl: string | undefined) => {
    history.replaceState(null, "", "/console/");
    replace(root, signInView(endSessionUrl));
  };
  replace(root, header(session, roles, signedOut), navigation(roles), notices, content);
  const show = async () => {
    const page = pageOf(location.pathname, roles);
    document.title = `${PAGES[page].title} · Custos console`;
    for (const link of root.querySelectorAll("nav a")) link.toggleAttribute("aria-current", link.getAttribute("data-page") === page);
    replace(content, h("h1", {}, PAGES[page].title));
    try {
      await PAGES[page].render(content, context);
    } catch (error) {
      context.refused(error);
    }
  };
  root.addEventListener("click", (event) => {
    const link = (event.target as Element).closest("a[data-page]");
    if (link === null || event.defaultPrevented || (event as MouseEvent).ctrlKey || (event as MouseEvent).metaKey) return;
    event.preventDefault();
    history.pushState(null, "", link.getAttribute("href"));
    replace(notices);
    void show().then(() => { content.focus(); });
  });
  window.addEventListener("popstate", () => void show());
  await show();
}

function pageOf(pathname: string, roles: Roles): PageName {
  const name = pathname.replace("/console/", "");
  if (name in PAGES && allowed(name as PageName, roles)) return name as PageName;
  return roles.admin ? "nodes" : "audit";
}

function allowed(page: PageName, roles: Roles): boolean {
  return PAGES[page].needs === "auditor" ? roles.auditor : roles.admin || roles.auditor;
}

/**
 * The domain as SpiceDB has it says whether this person is an admin, an auditor, or both. A
 * 403 means neither; any other refusal (Custos could not ask SpiceDB) is thrown, not guessed.
 */
async function rolesOf(session: Session): Promise<Roles> {
  const sub = subOf(session);
  try {
    const domain = await api<{ admins?: string[]; auditors?: string[] }>("GET", domainPath(session.domain));
    return { admin: domain.admins?.includes(sub) === true, auditor: domain.auditors?.includes(sub) === true };
  } catch (error) {
    if (error instanceof Refusal && error.problem.code === "permission_denied") return { admin: false, auditor: false };
    throw error;
  }
}

/** The provider's `sub`: the session's subject is namespaced `oidc:<domain>:<sub>`. */
export function subOf(session: Session): string {
  const prefix = `oidc:${session.domain}:`;
  return session.subject.startsWith(prefix) ? session.subject.slice(prefix.length) : session.subject;
}

function header(session: Session, roles: Roles, signedOut: (endSessionUrl: string | undefined) => void): HTMLElement {
  const strength = [session.acr ?? "no acr", session.amr.length === 0 ? "no amr" : session.amr.join(" + ")].join(", ");
  const signOut = h("button", { type: "button", class: "secondary" }, "Sign out");
  signOut.addEventListener("click", () => {
    void api<{ end_session_url?: string } | undefined>("POST", "/auth/logout").then(
      (ended) => { signedOut(ended?.end_session_url); },
      () => { location.assign("/console/"); },
    );
  });
  const role = [roles.admin ? "admin" : undefined, roles.auditor ? "auditor" : undefined].filter((each) => each !== undefined).join(" and ") || "no role";
  return h(
    "header",
    {},
    h("p", { class: "brand" }, "Custos console"),
    h(
      "dl",
      { class: "who" },
      h("dt", {}, "Signed in as"), h("dd", { id: "who-subject" }, `${subOf(session)} (${role}) in ${session.domain}`),
      h("dt", {}, "Sign-in strength"), h("dd", { id: "who-strength" }, `${strength}; signed in ${ago(session.authenticated_at)}`),
    ),
    signOut,
  );
}

function navigation(roles: Roles): HTMLElement {
  const links = (Object.keys(PAGES) as PageName[]).filter((page) => allowed(page, roles)).map((page) => h("li", {}, h("a", { href: `/console/${page}`, "data-page": page }, PAGES[page].title)));
  if (links.length === 0) return h("p", { class: "notice error" }, "This account is neither an admin nor an auditor of the domain: ask its operator to add you.");
  return h("nav", { "aria-label": "Console" }, h("ul", {}, ...links));
}

/**
 * Signed out: a domain to sign in to. Just after a sign-out, a link to end the provider's own
 * session as well, when it offers that (it does not send the browser back here).
 */
function signInView(endSessionUrl?: string): HTMLElement {
  const last = localStorage.getItem("custos.console.domain") ?? "";
  const input = h("input", { id: "domain", name: "domain", required: true, pattern: "[a-z0-9][a-z0-9\\-]{0,62}", value: last, autocomplete: "on" });
  const form = h("form", {}, h("label", { for: "domain" }, "Your domain"), input, h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem("custos.console.domain", input.value);
    location.assign(`/auth/${encodeURIComponent(input.value)}/login?return_to=${encodeURIComponent(location.pathname)}`);
  });
  const provider =
    endSessionUrl === undefined
      ? undefined
      : h("p", { id: "signed-out-provider" }, "You are signed out of Custos. Your provider may still remember you: ", h("a", { href: endSessionUrl }, "sign out of the provider too"), ".");
  return h("main", { class: "signed-out" }, h("h1", {}, "Custos console"), provider, h("p", {}, "You are not signed in. Sign in with your organisation's provider to see your domain's nodes, secrets, grants and audit log."), form);
}

/**
 * A step_up_required refusal: what is needed in plain words, and one button that signs in
 * again with those requirements and comes back here, where the action waits for a confirm.
 */
function showStepUp(notices: HTMLElement, pending: PendingAction, refusal: Refusal): void {
  const returnTo = `${location.pathname}?resume=1`;
  const target = refusal.problem.sign_in_url ?? "";
  const href = `${target}${target.includes("?") ? "&" : "?"}return_to=${encodeURIComponent(returnTo)}`;
  const button = h("a", { class: "button", href, id: "step-up" }, "Sign in again to continue");
  button.addEventListener("click", () => { keepPending(pending); });
  replace(
    notices,
    h(
      "div",
      { class: "notice step-up", role: "alert" },
      h("p", {}, explainStepUp(refusal.problem)),
      h("p", {}, `After signing in you come back here, and “${pending.label}” waits for you to confirm it.`),
      button,
    ),
  );
  // The one thing to do next: a keyboard user presses Enter.
  button.focus();
}

export function describe(error: unknown): string {
  if (error instanceof Refusal) return explainRefusal(error.problem);
  return "The console could not reach Custos. Check the connection and reload the page.";
}
