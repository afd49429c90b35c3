/**
 * An action the admin asked for that needs a stronger sign-in first. It is kept in this tab's
 * sessionStorage across the trip to the provider, then offered again for the admin to confirm:
 * nothing is ever sent on the admin's behalf without that click. A secret's value is never
 * kept: browser storage is no place for it, so the admin enters it again.
 */

const KEY = "custos.console.pending";

export interface PendingAction {
  /** The console page it belongs to (`nodes`, `secrets`, `grants`). */
  readonly page: string;
  /** The page's name for the action (`enroll`, `write`, …). */
  readonly action: string;
  /** What the confirm button says it will do. */
  readonly label: string;
  /** The form's non-secret fields. */
  readonly fields: Readonly<Record<string, string>>;
}

export function keepPending(action: PendingAction): void {
  sessionStorage.setItem(KEY, JSON.stringify(action));
}

/** The pending action of `page`, removed from storage: it is offered once. */
export function takePending(page: string): PendingAction | undefined {
  const text = sessionStorage.getItem(KEY);
  if (text === null) return undefined;
  let pending: PendingAction;
  try {
    pending = JSON.parse(text) as PendingAction;
  } catch {
    // Not something this console wrote: drop it, offer nothing.
    sessionStorage.removeItem(KEY);
    return undefined;
  }
  if (pending.page !== page) return undefined;
  sessionStorage.removeItem(KEY);
  return pending;
}
