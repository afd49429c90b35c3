import { readFileSync } from "node:fs";

/**
 * OpenBao's ACL policies, as far as the double needs them: the HCL `path "…" { capabilities
 * = [...] }` stanzas, exact paths, a `*` glob at the end (prefix match) and `+` segment
 * wildcards, and OpenBao's precedence when several rules match (vault/acl.go and the policy
 * documentation, "Priority matching"): an exact path wins; otherwise the rule whose first
 * wildcard comes later, then one not ending in `*`, then fewer `+` segments, then the longer,
 * then the lexicographically larger. Rules with the same path in several policies merge.
 * "deny" in the chosen rule denies everything.
 */

export interface PolicyRule {
  readonly path: string;
  readonly capabilities: readonly string[];
}

export type Policy = readonly PolicyRule[] | "root";

/** OpenBao's default policy, the lines Custos touches (attached unless no_default_policy). */
export const DEFAULT_POLICY: readonly PolicyRule[] = [
  { path: "auth/token/lookup-self", capabilities: ["read"] },
  { path: "auth/token/renew-self", capabilities: ["update"] },
  { path: "auth/token/revoke-self", capabilities: ["update"] },
  { path: "sys/capabilities-self", capabilities: ["update"] },
];

const STANZA = /path\s+"([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]\s*\}/g;

/** The rules of an HCL policy (comments dropped); a stanza the double cannot read throws. */
export function parsePolicy(hcl: string): PolicyRule[] {
  const text = hcl.replace(/#.*$/gm, "");
  const rules: PolicyRule[] = [];
  for (const match of text.matchAll(STANZA)) {
    const [, path, list] = match;
    if (path === undefined || list === undefined) continue;
    const capabilities = [...list.matchAll(/"([a-z]+)"/g)].map((entry) => entry[1] ?? "");
    rules.push({ path, capabilities });
  }
  const stanzas = (text.match(/\bpath\s+"/g) ?? []).length;
  if (stanzas !== rules.length) throw new Error(`policy has ${String(stanzas)} path stanzas, ${String(rules.length)} readable`);
  return rules;
}

function merge(rules: readonly PolicyRule[]): PolicyRule[] {
  const byPath = new Map<string, Set<string>>();
  for (const rule of rules) {
    const set = byPath.get(rule.path) ?? new Set<string>();
    for (const capability of rule.capabilities) set.add(capability);
    byPath.set(rule.path, set);
  }
  return [...byPath].map(([path, set]) => ({ path, capabilities: [...set].sort() }));
}

function matches(pattern: string, path: string): boolean {
  const glob = pattern.endsWith("*");
  const body = glob ? pattern.slice(0, -1) : pattern;
  const patternSegments = body.split("/");
  const pathSegments = path.split("/");
  if (!glob && patternSegments.length !== pathSegments.length) return false;
  if (glob && pathSegments.length < patternSegments.length) return false;
  for (let index = 0; index < patternSegments.length; index += 1) {
    const want = patternSegments[index] ?? "";
    const have = pathSegments[index] ?? "";
    const last = index === patternSegments.length - 1;
    if (want === "+") {
      if (have === "") return false;
      continue;
    }
    if (glob && last) return have.startsWith(want);
    if (want !== have) return false;
  }
  return true;
}

function firstWildcard(pattern: string): number {
  const plus = pattern.indexOf("+");
  const star = pattern.endsWith("*") ? pattern.length - 1 : -1;
  const found = [plus, star].filter((at) => at >= 0);
  return found.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...found);
}

/** Positive when a has priority over b (OpenBao's order; see the module comment). */
function priority(a: string, b: string): number {
  if (firstWildcard(a) !== firstWildcard(b)) return firstWildcard(a) - firstWildcard(b);
  const aGlob = a.endsWith("*");
  if (aGlob !== b.endsWith("*")) return aGlob ? -1 : 1;
  const plusCount = (pattern: string): number => pattern.split("/").filter((segment) => segment === "+").length;
  if (plusCount(a) !== plusCount(b)) return plusCount(b) - plusCount(a);
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The capabilities `policy` grants on `path`, as sys/capabilities-self lists them. */
export function capabilitiesOn(policy: Policy, path: string): string[] {
  if (policy === "root") return ["root"];
  const candidates = merge(policy).filter((rule) => matches(rule.path, path));
  if (candidates.length === 0) return ["deny"];
  const chosen = candidates.reduce((best, rule) => (priority(rule.path, best.path) > 0 ? rule : best));
  if (chosen.capabilities.includes("deny")) return ["deny"];
  return [...chosen.capabilities];
}

export function allows(policy: Policy, path: string, capability: string): boolean {
  const granted = capabilitiesOn(policy, path);
  return granted.includes("root") || granted.includes(capability);
}

/** Whether the policy grants anything at or under `prefix` (sys/internal/ui/mounts' preflight check). */
export function grantsUnder(policy: Policy, prefix: string): boolean {
  if (policy === "root") return true;
  return policy.some((rule) => !rule.capabilities.includes("deny") && (rule.path.startsWith(prefix) || matches(rule.path, prefix)));
}

/** A token's whole policy: its own rules plus the default policy unless refused. */
export function tokenPolicy(hcl: string | undefined, noDefaultPolicy = false): Policy {
  if (hcl === undefined) return "root";
  return [...parsePolicy(hcl), ...(noDefaultPolicy ? [] : DEFAULT_POLICY)];
}

/**
 * The HCL policies docs/openbao.md ships, in page order: the service's (`custos`), then
 * `custos-init` and `custos-rewrap`. Tests run under them, so the page cannot drift from
 * what Custos needs.
 */
export function documentedPolicies(): { readonly service: string; readonly init: string; readonly rewrap: string } {
  const page = readFileSync(new URL("../../docs/openbao.md", import.meta.url), "utf8");
  const [service, init, rewrap] = [...page.matchAll(/```hcl\n([\s\S]*?)```/g)].map((match) => match[1] ?? "");
  if (service === undefined || init === undefined || rewrap === undefined) throw new Error("docs/openbao.md must hold three hcl policies");
  return { service, init, rewrap };
}
