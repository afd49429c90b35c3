import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import { z } from "zod";
import { isDomainId } from "../platform/names.ts";

/**
 * The step-up policy (DESIGN.md, "Step-up (RFC 9470)"): per domain and per elevated action,
 * the acceptable `acr` values, the `amr` methods of which one must have been used, and how
 * fresh `auth_time` must be. It is read once at start-up; an invalid file stops start-up with
 * a StepUpPolicyError naming the file and the key, because a policy that is half understood
 * is a policy that is half enforced.
 */

/** The actions that pass the step-up gate (DESIGN.md, "Administration API"). */
export const ELEVATED_ACTIONS = ["node.enroll", "node.quarantine", "node.decommission", "secret.write", "secret.grant", "secret.delete", "access.issue", "node.rotate_request", "event_key.rotate"] as const;

export type ElevatedAction = (typeof ELEVATED_ACTIONS)[number];

export function isElevatedAction(value: string): value is ElevatedAction {
  return (ELEVATED_ACTIONS as readonly string[]).includes(value);
}

/** What one elevated action in one domain demands of the caller's authentication. */
export interface StepUpRequirement {
  /** Acceptable `acr` values; the token's `acr` must be one of them. Never empty. */
  readonly acr: readonly string[];
  /** The token's `amr` must contain at least one of these. Never empty. */
  readonly amrAny: readonly string[];
  /** Seconds; denied when `now - auth_time > maxAge`, exactly as advertised (the leeway is for future-dated claims only). */
  readonly maxAge: number;
  /** When true, a token with no `acr` claim at all passes the acr check if its `amr` qualifies. */
  readonly allowAmrWithoutAcr: boolean;
}

/** Any subset of a requirement; the settings it leaves out come from a less specific entry. */
export type StepUpOverride = Partial<StepUpRequirement>;

export interface DomainStepUpOverrides {
  readonly defaults: StepUpOverride;
  readonly actions: ReadonlyMap<ElevatedAction, StepUpOverride>;
}

export interface StepUpPolicy {
  readonly defaults: StepUpRequirement;
  readonly actions: ReadonlyMap<ElevatedAction, StepUpOverride>;
  /** Keyed by domain id. A Map, so no domain id can collide with an Object prototype member. */
  readonly domains: ReadonlyMap<string, DomainStepUpOverrides>;
}

/** The policy's file name under the policies directory (config.policiesDir). */
export const STEP_UP_POLICY_FILE = "step-up.yaml";

/**
 * A longer window than a day is no longer step-up: it is ordinary sign-in. Refusing it at
 * load time catches a `max_age` written in minutes or milliseconds by mistake.
 */
export const MAX_STEP_UP_MAX_AGE_SECONDS = 86_400;

export class StepUpPolicyError extends Error {
  /** The file as it was named to the loader. */
  readonly file: string;
  /** Dotted path of the offending key (`actions.access.issue.max_age`); "" for the whole file. */
  readonly keyPath: string;

  constructor(file: string, keyPath: string, problem: string, options: { readonly cause?: unknown } = {}) {
    super(keyPath === "" ? `${file}: ${problem}` : `${file}: ${keyPath} ${problem}`, { cause: options.cause });
    this.name = "StepUpPolicyError";
    this.file = file;
    this.keyPath = keyPath;
  }
}

// ---- schema ------------------------------------------------------------------------------

/*
 * Claim values are restricted to printable ASCII without space, '"' or '\': acr values travel
 * space-separated inside a quoted-string of the WWW-Authenticate challenge (RFC 9470 §3,
 * RFC 6750 §3), so a value that could break out of that string is refused here, at load time,
 * rather than escaped into something the client would misread.
 */
const CLAIM_VALUE = /^[\x21\x23-\x5B\x5D-\x7E]{1,255}$/;
const CLAIM_VALUE_PROBLEM = "must be 1-255 printable ASCII characters without spaces, quotes or backslashes";

function claimValues(what: string) {
  const listProblem = `must be a non-empty list of ${what}`;
  return z
    .array(z.string({ error: CLAIM_VALUE_PROBLEM }).regex(CLAIM_VALUE, { error: CLAIM_VALUE_PROBLEM }), { error: listProblem })
    .min(1, { error: listProblem });
}

const MAX_AGE_PROBLEM = `must be a positive integer no greater than ${MAX_STEP_UP_MAX_AGE_SECONDS} (seconds)`;
const maxAgeSchema = z
  .number({ error: MAX_AGE_PROBLEM })
  .int({ error: MAX_AGE_PROBLEM })
  .min(1, { error: MAX_AGE_PROBLEM })
  .max(MAX_STEP_UP_MAX_AGE_SECONDS, { error: MAX_AGE_PROBLEM });

const acrSchema = claimValues("acr values");
const amrAnySchema = claimValues("amr methods");
const allowAmrWithoutAcrSchema = z.boolean({ error: "must be true or false" });

const MAPPING_PROBLEM = "must be a mapping";

const defaultsSchema = z.strictObject(
  {
    acr: acrSchema,
    amr_any: amrAnySchema,
    max_age: maxAgeSchema,
    // Optional only because its absence means the safe value: amr alone is not enough.
    allow_amr_without_acr: allowAmrWithoutAcrSchema.optional(),
  },
  { error: MAPPING_PROBLEM },
);

const overrideSchema = z.strictObject(
  {
    acr: acrSchema.optional(),
    amr_any: amrAnySchema.optional(),
    max_age: maxAgeSchema.optional(),
    allow_amr_without_acr: allowAmrWithoutAcrSchema.optional(),
  },
  { error: MAPPING_PROBLEM },
);

/*
 * A strict object keyed by the known actions, not a record: a misspelt action
 * (`acces.issue`) must stop start-up, not silently leave the real action on the defaults.
 */
const actionsSchema = z.strictObject(
  {
    "node.enroll": overrideSchema.optional(),
    "node.quarantine": overrideSchema.optional(),
    "node.decommission": overrideSchema.optional(),
    "secret.write": overrideSchema.optional(),
    "secret.grant": overrideSchema.optional(),
    "secret.delete": overrideSchema.optional(),
    "access.issue": overrideSchema.optional(),
    "node.rotate_request": overrideSchema.optional(),
    "event_key.rotate": overrideSchema.optional(),
  } satisfies Record<ElevatedAction, unknown>,
  { error: MAPPING_PROBLEM },
);

const domainSchema = z.strictObject(
  {
    defaults: overrideSchema.optional(),
    actions: actionsSchema.optional(),
  },
  { error: MAPPING_PROBLEM },
);

const domainIdSchema = z.string().refine(isDomainId);

const policySchema = z.strictObject(
  {
    defaults: defaultsSchema,
    actions: actionsSchema.optional(),
    domains: z.record(domainIdSchema, domainSchema, { error: MAPPING_PROBLEM }).optional(),
  },
  { error: MAPPING_PROBLEM },
);

type PolicyDocument = z.infer<typeof policySchema>;
type OverrideDocument = z.infer<typeof overrideSchema>;
type ActionsDocument = z.infer<typeof actionsSchema>;

// ---- zod issues → StepUpPolicyError (the one place that knows zod's issue shapes) ----------

function dotted(path: readonly PropertyKey[]): string {
  return path.map((segment) => String(segment)).join(".");
}

/**
 * An unknown key under an `actions` mapping is an unknown action, and is said so. The shape
 * is matched in full: a domain may itself be called "actions" (`domains.actions`).
 */
function isActionsPath(path: readonly PropertyKey[]): boolean {
  if (path.length === 1) return path[0] === "actions";
  return path.length === 3 && path[0] === "domains" && path[2] === "actions";
}

function policyErrorFromIssue(file: string, issue: z.core.$ZodIssue): StepUpPolicyError {
  switch (issue.code) {
    case "unrecognized_keys": {
      const key = issue.keys[0] ?? "";
      const problem = isActionsPath(issue.path)
        ? `is not an elevated action (expected one of ${ELEVATED_ACTIONS.join(", ")})`
        : "is not a recognised setting";
      return new StepUpPolicyError(file, dotted([...issue.path, key]), problem);
    }
    case "invalid_key":
      // Only the domains record has a key schema.
      return new StepUpPolicyError(
        file,
        dotted(issue.path),
        "is not a valid domain id (1-63 characters of a-z, 0-9 and '-', starting with a letter or digit, and not 'platform')",
      );
    default: {
      if (issue.path.length === 0) return new StepUpPolicyError(file, "", "must be a mapping with at least a defaults section");
      // A missing required key reaches here as invalid_type on that key's own path.
      const missing = issue.code === "invalid_type" && issue.input === undefined;
      return new StepUpPolicyError(file, dotted(issue.path), missing ? `is required and ${issue.message}` : issue.message);
    }
  }
}

// ---- normalisation -------------------------------------------------------------------------

function toOverride(document: OverrideDocument): StepUpOverride {
  // Only settings actually written are carried, so resolution can tell "absent" from "set".
  return {
    ...(document.acr === undefined ? {} : { acr: document.acr }),
    ...(document.amr_any === undefined ? {} : { amrAny: document.amr_any }),
    ...(document.max_age === undefined ? {} : { maxAge: document.max_age }),
    ...(document.allow_amr_without_acr === undefined ? {} : { allowAmrWithoutAcr: document.allow_amr_without_acr }),
  };
}

function toActionMap(document: ActionsDocument | undefined): ReadonlyMap<ElevatedAction, StepUpOverride> {
  const actions = new Map<ElevatedAction, StepUpOverride>();
  if (document === undefined) return actions;
  for (const action of ELEVATED_ACTIONS) {
    const override = document[action];
    if (override !== undefined) actions.set(action, toOverride(override));
  }
  return actions;
}

function toPolicy(document: PolicyDocument): StepUpPolicy {
  const domains = new Map<string, DomainStepUpOverrides>();
  for (const [domain, overrides] of Object.entries(document.domains ?? {})) {
    domains.set(domain, {
      defaults: overrides.defaults === undefined ? {} : toOverride(overrides.defaults),
      actions: toActionMap(overrides.actions),
    });
  }
  return {
    defaults: {
      acr: document.defaults.acr,
      amrAny: document.defaults.amr_any,
      maxAge: document.defaults.max_age,
      allowAmrWithoutAcr: document.defaults.allow_amr_without_acr ?? false,
    },
    actions: toActionMap(document.actions),
    domains,
  };
}

// ---- parsing and loading -----------------------------------------------------------------

/**
 * Parses and validates a step-up policy. `file` only names the source in errors.
 *
 * @throws StepUpPolicyError for YAML that does not parse (including duplicate keys, which
 *   would otherwise let a later line silently win), for unknown tags, unknown settings,
 *   unknown actions, invalid domain ids and invalid values; the first problem is reported.
 */
export function parseStepUpPolicy(text: string, file: string): StepUpPolicy {
  // prettyErrors only for the line/column it computes; yaml's own message quotes the source.
  const document = parseDocument(text, { schema: "core", uniqueKeys: true, prettyErrors: true });
  // Warnings count too: an unresolved tag (`!custom 5`) must not quietly become a string.
  const yamlProblem = document.errors[0] ?? document.warnings[0];
  if (yamlProblem !== undefined) {
    const start = yamlProblem.linePos?.[0];
    const where = start === undefined ? "" : ` at line ${start.line}, column ${start.col}`;
    const what = yamlProblem.code.toLowerCase().replaceAll("_", " ");
    throw new StepUpPolicyError(file, "", `is not valid YAML${where}: ${what}`, { cause: yamlProblem });
  }
  let value: unknown;
  try {
    // yaml's own default, written out because it is a control: a bounded alias expansion
    // stops a "billion laughs" document from exhausting memory at start-up.
    value = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new StepUpPolicyError(file, "", "is not valid YAML: too many aliases", { cause: error });
  }
  // reportInput lets the translation tell a missing key (input undefined) from a wrong one.
  const parsed = policySchema.safeParse(value, { reportInput: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue === undefined) throw new StepUpPolicyError(file, "", "is not a valid step-up policy", { cause: parsed.error });
    throw policyErrorFromIssue(file, issue);
  }
  return toPolicy(parsed.data);
}

/**
 * Reads and validates the policy file (normally `path.join(config.policiesDir, STEP_UP_POLICY_FILE)`).
 * A missing file is an error, not an empty policy: there are no built-in defaults to fall
 * back to, so nothing elevated can run without an explicit policy.
 *
 * @throws StepUpPolicyError naming `file` when it cannot be read or is not a valid policy.
 */
export async function loadStepUpPolicy(file: string): Promise<StepUpPolicy> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = error instanceof Error && "code" in error && typeof error.code === "string" ? ` (${error.code})` : "";
    throw new StepUpPolicyError(file, "", `cannot be read${code}`, { cause: error });
  }
  return parseStepUpPolicy(text, file);
}

// ---- resolution ----------------------------------------------------------------------------

/**
 * The requirement for `action` in `domain`. Each setting is resolved on its own, the most
 * specific entry that sets it winning: domain + action > domain defaults > action > defaults.
 * A domain without an entry gets the global values.
 */
export function resolveRequirement(policy: StepUpPolicy, domain: string, action: ElevatedAction): StepUpRequirement {
  const domainOverrides = policy.domains.get(domain);
  // Most specific first.
  const layers: readonly StepUpOverride[] = [
    domainOverrides?.actions.get(action) ?? {},
    domainOverrides?.defaults ?? {},
    policy.actions.get(action) ?? {},
  ];
  const pick = <K extends keyof StepUpRequirement>(key: K): StepUpRequirement[K] => {
    for (const layer of layers) {
      const value = layer[key];
      if (value !== undefined) return value;
    }
    return policy.defaults[key];
  };
  return {
    acr: pick("acr"),
    amrAny: pick("amrAny"),
    maxAge: pick("maxAge"),
    allowAmrWithoutAcr: pick("allowAmrWithoutAcr"),
  };
}
