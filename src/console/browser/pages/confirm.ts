import { h, replace } from "../dom.ts";
import type { ConsoleContext } from "../main.ts";
import { takePending, type PendingAction } from "../pending.ts";

/**
 * After a step-up sign-in the console comes back to the page with `?resume=1`: the action the
 * admin asked for is offered with a confirm button (and a cancel), never sent by itself.
 */
export function offerPendingAction(
  container: HTMLElement,
  context: ConsoleContext,
  page: string,
  run: (pending: PendingAction) => Promise<void>,
): PendingAction | undefined {
  if (!new URLSearchParams(location.search).has("resume")) return undefined;
  history.replaceState(null, "", location.pathname);
  const pending = takePending(page);
  if (pending === undefined) return undefined;
  const confirm = h("button", { type: "button", id: "confirm-pending" }, `Confirm: ${pending.label}`);
  const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
  const panel = h(
    "section",
    { class: "pending", "aria-labelledby": "pending-title" },
    h("h2", { id: "pending-title" }, "Waiting for your confirmation"),
    h("p", {}, `You signed in again. Custos has not done anything yet: confirm to ${pending.label}.`),
    confirm,
    cancel,
  );
  confirm.addEventListener("click", () => {
    confirm.disabled = true;
    void context.act(pending, () => run(pending)).finally(() => { panel.remove(); });
  });
  cancel.addEventListener("click", () => { replace(panel); panel.remove(); });
  container.append(panel);
  confirm.focus();
  return pending;
}

/** A button that asks "are you sure" in words before a destructive action. */
export function confirmedButton(text: string, question: string, onConfirm: () => void, attributes: Readonly<Record<string, string>> = {}): HTMLButtonElement {
  const button = h("button", { type: "button", class: "danger", ...attributes }, text);
  button.addEventListener("click", () => {
    if (window.confirm(question)) onConfirm();
  });
  return button;
}
