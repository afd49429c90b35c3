import { z } from "zod";
import { SecretBackendFailure } from "../../backend-errors.ts";

/**
 * The shapes of OpenBao's answers that the adapter relies on (only the members Custos reads;
 * OpenBao's answers carry more), and whether a Transit key is fit to wrap with.
 */

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const base64 = z.string().regex(BASE64);
export const TRANSIT_CIPHERTEXT = /^vault:v\d+:[A-Za-z0-9+/]+={0,2}$/;

// Only the members Custos relies on; OpenBao's answers carry more (request_id, lease_id, …).
export const kvReadAnswer = z.object({
  data: z.object({
    data: z.object({ value: base64 }),
    metadata: z.object({ version: z.number().int().positive() }),
  }),
});
export const mountAnswer = z.object({
  data: z.object({ type: z.string(), options: z.object({ version: z.string().optional() }).nullish() }),
});
export const kvMetadataAnswer = z.object({ data: z.object({ current_version: z.number().int().nonnegative() }) });
export const kvWriteAnswer = z.object({ data: z.object({ version: z.number().int().positive() }) });
export const encryptAnswer = z.object({ data: z.object({ ciphertext: z.string().regex(TRANSIT_CIPHERTEXT) }) });
export const decryptAnswer = z.object({ data: z.object({ plaintext: base64 }) });
// transit/keys/<name> (read, and the answer to creating it): what decides whether Custos may
// wrap with the key. `convergent_encryption` and `soft_deleted` are absent on older servers.
export const transitKeyAnswer = z.object({
  data: z.object({
    type: z.string(),
    derived: z.boolean(),
    convergent_encryption: z.boolean().optional(),
    soft_deleted: z.boolean().optional(),
    supports_encryption: z.boolean(),
    supports_decryption: z.boolean(),
    latest_version: z.number().int().positive(),
    min_decryption_version: z.number().int().nonnegative().optional(),
  }),
  warnings: z.array(z.string()).nullish(),
});
export type TransitKeyFacts = z.infer<typeof transitKeyAnswer>["data"];

/** Why a Transit key must not wrap Custos's key material, or undefined when it may. */
export function transitKeyProblem(key: TransitKeyFacts): string | undefined {
  if (!key.derived) return "was created with derived=false: it ignores the wrapping context, so a ciphertext moved to another row would unwrap there";
  if (key.convergent_encryption === true) return "uses convergent_encryption: equal key material would wrap to equal ciphertexts";
  if (key.soft_deleted === true) return "is soft-deleted: restore it";
  if (!key.supports_encryption || !key.supports_decryption) return `(type ${key.type}) does not support both encrypt and decrypt`;
  return undefined;
}
// auth/token/lookup-self: `ttl` is the remaining seconds, 0 for a token that never expires.
export const lookupSelfAnswer = z.object({ data: z.object({ ttl: z.number().int().nonnegative(), renewable: z.boolean() }) });
// Logins and auth/token/renew-self answer in `auth`, not `data`.
export const authAnswer = z.object({
  auth: z.object({
    client_token: z.string().min(1),
    lease_duration: z.number().int().nonnegative(),
    renewable: z.boolean(),
  }),
});

// sys/capabilities-self: each asked path → its capabilities (plus "capabilities" for one path).
export const capabilitiesAnswer = z.object({ data: z.record(z.string(), z.array(z.string())) });

export function parseAnswer<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new SecretBackendFailure("malformed_answer", `unexpected answer shape from ${what}`);
  return parsed.data;
}
