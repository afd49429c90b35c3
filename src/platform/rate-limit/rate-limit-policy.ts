import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { z } from "zod";

export const RATE_LIMIT_POLICY_FILE = "rate-limits.yaml";

const budget = z.strictObject({
  limit: z.number().int().min(1).max(1_000_000),
  window_seconds: z.number().int().min(1).max(86_400),
});
const policySchema = z.strictObject({
  secret_reads: z.strictObject({ per_node: budget, per_domain: budget }),
  // Optional so that a policies directory written before rotations were limited still loads.
  node_rotations: z.strictObject({ per_node: budget }).default({ per_node: { limit: 3, window_seconds: 3600 } }),
});

export type RateLimitPolicy = z.infer<typeof policySchema>;
/** One budget: at most `limit` requests per `window_seconds`. */
export type Budget = z.infer<typeof budget>;

export class RateLimitPolicyError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RateLimitPolicyError";
  }
}

/** Loads and validates the file; a bad one stops start-up with the file and the key named. */
export async function loadRateLimitPolicy(file: string): Promise<RateLimitPolicy> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new RateLimitPolicyError(`${file}: cannot be read`, { cause: error });
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new RateLimitPolicyError(`${file}: not valid YAML`, { cause: error });
  }
  const result = policySchema.safeParse(document);
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = issue === undefined ? "" : issue.path.join(".");
    throw new RateLimitPolicyError(`${file}: ${key === "" ? "(top level)" : key} ${issue?.message ?? "is invalid"}`);
  }
  return result.data;
}
