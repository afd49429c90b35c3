/**
 * Building the page without HTML strings: every value reaches the page as a text node or an
 * attribute set through the DOM, never through innerHTML, so nothing a user or an API answer
 * holds can become markup or script.
 */

type Child = Node | string | number | false | null | undefined;
type Attributes = Readonly<Record<string, string | number | boolean | undefined>>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: readonly Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: readonly Child[]): void {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    parent.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces everything inside `parent`. */
export function replace(parent: Node, ...children: readonly Child[]): void {
  while (parent.firstChild !== null) parent.removeChild(parent.firstChild);
  append(parent, ...children);
}

/** A labelled input, the label tied to it by id (screen readers announce the label). */
export function field(label: string, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
  const hintElement = hint === undefined ? undefined : h("span", { class: "hint", id: `${input.id}-hint` }, hint);
  if (hintElement !== undefined) input.setAttribute("aria-describedby", hintElement.id);
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input, hintElement);
}

/** A table with a caption (its accessible name), header cells and rows of cells. */
export function table(caption: string, headers: readonly string[], rows: readonly (readonly Child[])[]): HTMLElement {
  if (rows.length === 0) return h("p", { class: "empty" }, `${caption}: none yet.`);
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ...headers.map((header) => h("th", { scope: "col" }, header)))),
    h("tbody", {}, ...rows.map((cells) => h("tr", {}, ...cells.map((cell) => h("td", {}, cell))))),
  );
}

/** "3 minutes ago", "in 2 hours": how long from now an instant is, in words. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (iso === null || iso === undefined) return "never";
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  const magnitude = Math.abs(seconds);
  const [amount, unit] =
    magnitude < 90 ? [magnitude, "second"] : magnitude < 5400 ? [Math.round(magnitude / 60), "minute"] : magnitude < 129_600 ? [Math.round(magnitude / 3600), "hour"] : [Math.round(magnitude / 86_400), "day"];
  const words = `${String(amount)} ${unit}${amount === 1 ? "" : "s"}`;
  return seconds >= 0 ? `${words} ago` : `in ${words}`;
}
