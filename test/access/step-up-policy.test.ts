import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ELEVATED_ACTIONS,
  loadStepUpPolicy,
  parseStepUpPolicy,
  resolveRequirement,
  StepUpPolicyError,
  type StepUpPolicy,
} from "../../src/access/step-up-policy.ts";

const SHIPPED_POLICY = fileURLToPath(new URL("../../policies/step-up.yaml", import.meta.url));

const DEFAULTS = `defaults:
  acr: ["urn:custos:acr:mfa"]
  amr_any: ["otp", "hwk"]
  max_age: 300
`;

let dir: string;
let counter = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "custos-step-up-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writePolicy(text: string): Promise<string> {
  counter += 1;
  const file = path.join(dir, `step-up-${counter}.yaml`);
  await writeFile(file, text, "utf8");
  return file;
}

/** Writes `text` to a temporary policy file and returns the error loading it raises. */
async function policyError(text: string): Promise<StepUpPolicyError> {
  const file = await writePolicy(text);
  try {
    await loadStepUpPolicy(file);
  } catch (error) {
    if (error instanceof StepUpPolicyError) {
      expect(error.file).toBe(file);
      expect(error.message.startsWith(`${file}: `)).toBe(true);
      return error;
    }
    throw error;
  }
  throw new Error("expected a StepUpPolicyError");
}

async function refusedKey(text: string): Promise<string> {
  const error = await policyError(text);
  // The message names the key right after the file.
  expect(error.message.startsWith(`${error.file}: ${error.keyPath} `)).toBe(true);
  return error.keyPath;
}

function parse(text: string): StepUpPolicy {
  return parseStepUpPolicy(text, "step-up.yaml");
}

describe("the shipped policies/step-up.yaml", () => {
  it("demands urn:custos:acr:mfa, one of otp/hwk/swk/mfa and 300 s for node.enroll", async () => {
    const policy = await loadStepUpPolicy(SHIPPED_POLICY);
    expect(resolveRequirement(policy, "acme", "node.enroll")).toEqual({
      acr: ["urn:custos:acr:mfa"],
      amrAny: ["otp", "hwk", "swk", "mfa"],
      maxAge: 300,
      allowAmrWithoutAcr: false,
    });
  });

  it("tightens access.issue to 120 s and leaves every other elevated action at 300 s", async () => {
    const policy = await loadStepUpPolicy(SHIPPED_POLICY);
    for (const action of ELEVATED_ACTIONS) {
      expect(resolveRequirement(policy, "acme", action).maxAge, action).toBe(action === "access.issue" ? 120 : 300);
    }
  });
});

describe("resolveRequirement precedence", () => {
  const policy = parse(`${DEFAULTS}
actions:
  access.issue:
    acr: ["urn:custos:acr:hwk"]
    max_age: 120
domains:
  acme:
    defaults:
      amr_any: ["hwk"]
      max_age: 200
    actions:
      access.issue:
        max_age: 60
  beta:
    defaults:
      max_age: 200
`);

  it("uses the defaults for an action and a domain with no entries", () => {
    expect(resolveRequirement(policy, "other", "node.enroll")).toEqual({
      acr: ["urn:custos:acr:mfa"],
      amrAny: ["otp", "hwk"],
      maxAge: 300,
      allowAmrWithoutAcr: false,
    });
  });

  it("lets a per-action entry override the defaults", () => {
    expect(resolveRequirement(policy, "other", "access.issue").maxAge).toBe(120);
  });

  it("lets a domain's defaults override a global per-action entry", () => {
    expect(resolveRequirement(policy, "beta", "access.issue").maxAge).toBe(200);
  });

  it("lets a domain's per-action entry override the domain's defaults", () => {
    expect(resolveRequirement(policy, "acme", "access.issue").maxAge).toBe(60);
  });

  it("applies a domain's defaults to its actions without their own entry", () => {
    expect(resolveRequirement(policy, "acme", "node.enroll").maxAge).toBe(200);
  });

  it("resolves each setting separately, taking the rest from less specific entries", () => {
    expect(resolveRequirement(policy, "acme", "access.issue")).toEqual({
      acr: ["urn:custos:acr:hwk"], // global access.issue
      amrAny: ["hwk"], // acme defaults
      maxAge: 60, // acme access.issue
      allowAmrWithoutAcr: false, // defaults
    });
  });

  it("does not let one domain's override reach another domain", () => {
    expect(resolveRequirement(policy, "beta", "node.enroll").amrAny).toEqual(["otp", "hwk"]);
  });
});

describe("allow_amr_without_acr", () => {
  it("is false when the policy does not mention it", () => {
    expect(parse(DEFAULTS).defaults.allowAmrWithoutAcr).toBe(false);
  });

  it("can be opted into for one domain's action only", () => {
    const policy = parse(`${DEFAULTS}
domains:
  acme:
    actions:
      secret.write:
        allow_amr_without_acr: true
`);
    expect(resolveRequirement(policy, "acme", "secret.write").allowAmrWithoutAcr).toBe(true);
    expect(resolveRequirement(policy, "acme", "secret.grant").allowAmrWithoutAcr).toBe(false);
    expect(resolveRequirement(policy, "beta", "secret.write").allowAmrWithoutAcr).toBe(false);
  });

  it("refuses yes as a boolean (YAML 1.2 core schema)", async () => {
    expect(await refusedKey(`${DEFAULTS}  allow_amr_without_acr: yes\n`)).toBe("defaults.allow_amr_without_acr");
  });
});

describe("loadStepUpPolicy refuses an invalid policy, naming the file and the key", () => {
  it("refuses a fractional max_age for an action, with the documented message", async () => {
    const error = await policyError(`${DEFAULTS}actions:\n  access.issue:\n    max_age: 1.5\n`);
    expect(error.keyPath).toBe("actions.access.issue.max_age");
    expect(error.message).toBe(`${error.file}: actions.access.issue.max_age must be a positive integer no greater than 86400 (seconds)`);
  });

  it("refuses a max_age of zero", async () => {
    expect(await refusedKey(`${DEFAULTS}actions:\n  access.issue:\n    max_age: 0\n`)).toBe("actions.access.issue.max_age");
  });

  it("accepts a max_age of one second and of 86400 seconds", () => {
    expect(parse(`${DEFAULTS}actions:\n  access.issue:\n    max_age: 1\n`).actions.get("access.issue")?.maxAge).toBe(1);
    expect(parse(`${DEFAULTS}actions:\n  access.issue:\n    max_age: 86400\n`).actions.get("access.issue")?.maxAge).toBe(86400);
  });

  it("refuses a max_age above 86400 seconds", async () => {
    expect(await refusedKey(`${DEFAULTS}actions:\n  access.issue:\n    max_age: 86401\n`)).toBe("actions.access.issue.max_age");
  });

  it("refuses a max_age written as a string", async () => {
    expect(await refusedKey(`${DEFAULTS}actions:\n  access.issue:\n    max_age: "120"\n`)).toBe("actions.access.issue.max_age");
  });

  it("refuses an unknown action name", async () => {
    const error = await policyError(`${DEFAULTS}actions:\n  acces.issue:\n    max_age: 60\n`);
    expect(error.keyPath).toBe("actions.acces.issue");
    expect(error.message).toContain("is not an elevated action");
  });

  it("refuses an unknown action name inside a domain", async () => {
    expect(await refusedKey(`${DEFAULTS}domains:\n  acme:\n    actions:\n      secret.read:\n        max_age: 60\n`)).toBe("domains.acme.actions.secret.read");
  });

  it("refuses an unknown setting", async () => {
    expect(await refusedKey(`${DEFAULTS}  amr: ["otp"]\n`)).toBe("defaults.amr");
  });

  it("refuses an unknown setting in a per-action override", async () => {
    expect(await refusedKey(`${DEFAULTS}actions:\n  node.enroll:\n    maxage: 60\n`)).toBe("actions.node.enroll.maxage");
  });

  it("refuses an unknown section inside a domain", async () => {
    expect(await refusedKey(`${DEFAULTS}domains:\n  acme:\n    default:\n      max_age: 60\n`)).toBe("domains.acme.default");
  });

  it("calls an unknown key in a domain named actions a setting, not an action", async () => {
    const error = await policyError(`${DEFAULTS}domains:\n  actions:\n    access.issue:\n      max_age: 60\n`);
    expect(error.keyPath).toBe("domains.actions.access.issue");
    expect(error.message).toContain("is not a recognised setting");
  });

  it("refuses an unknown top-level section", async () => {
    expect(await refusedKey(`${DEFAULTS}action:\n  access.issue:\n    max_age: 60\n`)).toBe("action");
  });

  it("refuses defaults without max_age", async () => {
    const error = await policyError(`defaults:\n  acr: ["urn:custos:acr:mfa"]\n  amr_any: ["otp"]\n`);
    expect(error.keyPath).toBe("defaults.max_age");
    expect(error.message).toContain("is required");
  });

  it("refuses a policy without defaults", async () => {
    expect(await refusedKey(`actions:\n  access.issue:\n    max_age: 60\n`)).toBe("defaults");
  });

  it("refuses an empty acr list", async () => {
    expect(await refusedKey(`defaults:\n  acr: []\n  amr_any: ["otp"]\n  max_age: 300\n`)).toBe("defaults.acr");
  });

  it("refuses an empty amr_any list in an override", async () => {
    expect(await refusedKey(`${DEFAULTS}actions:\n  node.enroll:\n    amr_any: []\n`)).toBe("actions.node.enroll.amr_any");
  });

  it("refuses an acr value containing a space, which would split in acr_values", async () => {
    expect(await refusedKey(`defaults:\n  acr: ["urn:custos:acr:mfa", "two words"]\n  amr_any: ["otp"]\n  max_age: 300\n`)).toBe("defaults.acr.1");
  });

  it("refuses an acr value containing a double quote", async () => {
    expect(await refusedKey(`defaults:\n  acr: ['a"b']\n  amr_any: ["otp"]\n  max_age: 300\n`)).toBe("defaults.acr.0");
  });

  it("refuses a domain id that is not valid", async () => {
    expect(await refusedKey(`${DEFAULTS}domains:\n  Acme:\n    defaults:\n      max_age: 60\n`)).toBe("domains.Acme");
  });

  it("refuses the reserved platform domain", async () => {
    expect(await refusedKey(`${DEFAULTS}domains:\n  platform:\n    defaults:\n      max_age: 60\n`)).toBe("domains.platform");
  });

  it("refuses an action entry left empty (null)", async () => {
    expect(await refusedKey(`${DEFAULTS}actions:\n  access.issue:\n`)).toBe("actions.access.issue");
  });

  it("refuses a duplicate key rather than letting the later one win", async () => {
    const error = await policyError(`${DEFAULTS}  max_age: 3600\n`);
    expect(error.keyPath).toBe("");
    expect(error.message).toMatch(/is not valid YAML at line 5, column \d+: duplicate key$/);
  });

  it("refuses an unresolved YAML tag", async () => {
    expect((await policyError(`${DEFAULTS}actions:\n  access.issue:\n    max_age: !seconds 60\n`)).message).toContain("is not valid YAML");
  });

  it("refuses a document whose aliases expand exponentially", async () => {
    const ten = (alias: string): string => `[${Array.from({ length: 10 }, () => alias).join(", ")}]`;
    const text = `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b ${ten("*a")}\nc: &c ${ten("*b")}\nd: &d ${ten("*c")}\n${DEFAULTS}`;
    const error = await policyError(text);
    expect(error.keyPath).toBe("");
    expect(error.message).toBe(`${error.file}: is not valid YAML: too many aliases`);
  });

  it("refuses an empty file", async () => {
    const error = await policyError("");
    expect(error.keyPath).toBe("");
    expect(error.message).toBe(`${error.file}: must be a mapping with at least a defaults section`);
  });

  it("refuses a missing file instead of running without a policy", async () => {
    const missing = path.join(dir, "absent.yaml");
    await expect(loadStepUpPolicy(missing)).rejects.toMatchObject({
      name: "StepUpPolicyError",
      file: missing,
      keyPath: "",
      message: `${missing}: cannot be read (ENOENT)`,
    });
  });
});
