/**
 * What Custos's OpenBao token must be allowed to do, per use, checked at start-up through
 * sys/capabilities-self (one call for every path) so that a policy missing a line stops
 * start-up naming it, instead of failing the first secret read in production.
 * docs/openbao.md holds the policy that grants exactly these; a test checks the two agree.
 */

/** Which command the token serves: the server, `custos backend init`, `custos backend rewrap`. */
export type CapabilityPurpose = "serve" | "init" | "rewrap";

export interface RequiredCapability {
  readonly path: string;
  readonly capabilities: readonly string[];
  /** Why Custos needs it, for the refusal message. */
  readonly why: string;
}

export interface CapabilityLayout {
  readonly kvMount: string;
  readonly kvPrefix: string;
  readonly transitMount: string;
  readonly transitKey: string;
  /** Whether the token can be renewed: only then is renew-self needed. */
  readonly renewable: boolean;
}

/**
 * A sample secret path under the prefix: a policy may grant the prefix with `*` or with `+`
 * segments (`custos/+/*`), and a concrete two-segment path is what both must match.
 */
const SAMPLE_SECRET = "capability-check/sample";

export function requiredCapabilities(layout: CapabilityLayout, purpose: CapabilityPurpose): RequiredCapability[] {
  const key = `${layout.transitMount}/keys/${layout.transitKey}`;
  const token: RequiredCapability[] = [{ path: "auth/token/lookup-self", capabilities: ["read"], why: "readiness and the token's TTL" }];
  if (layout.renewable) token.push({ path: "auth/token/renew-self", capabilities: ["update"], why: "renewing the token before it expires" });
  if (purpose === "init") {
    // Creating a Transit key is a write to transit/keys/<key>, which OpenBao checks as update.
    return [...token, { path: key, capabilities: ["read", "update"], why: "checking and creating the wrapping key" }];
  }
  if (purpose === "rewrap") {
    return [
      ...token,
      { path: key, capabilities: ["read"], why: "checking the wrapping key" },
      { path: `${layout.transitMount}/rewrap/${layout.transitKey}`, capabilities: ["update"], why: "rewrapping to the newest key version" },
    ];
  }
  return [
    ...token,
    { path: `${layout.kvMount}/data/${layout.kvPrefix}/${SAMPLE_SECRET}`, capabilities: ["create", "read", "update"], why: "storing and reading secret values" },
    { path: `${layout.kvMount}/metadata/${layout.kvPrefix}/${SAMPLE_SECRET}`, capabilities: ["read", "delete"], why: "the check-and-set version of a write, and destroying every version of a deleted secret" },
    { path: `${layout.transitMount}/encrypt/${layout.transitKey}`, capabilities: ["update"], why: "wrapping key material" },
    { path: `${layout.transitMount}/decrypt/${layout.transitKey}`, capabilities: ["update"], why: "unwrapping key material" },
    { path: key, capabilities: ["read"], why: "checking the wrapping key at start-up" },
  ];
}

/** "update on transit/encrypt/custos (wrapping key material)" for each capability the answer lacks. */
export function missingCapabilities(required: readonly RequiredCapability[], granted: Readonly<Record<string, readonly string[] | undefined>>): string[] {
  const missing: string[] = [];
  for (const need of required) {
    const has = granted[need.path] ?? [];
    // "root" is every capability; "deny" is none, whatever else is listed.
    if (has.includes("root")) continue;
    const lacking = has.includes("deny") ? need.capabilities : need.capabilities.filter((capability) => !has.includes(capability));
    if (lacking.length > 0) missing.push(`${lacking.join(", ")} on ${need.path} (${need.why})`);
  }
  return missing;
}
