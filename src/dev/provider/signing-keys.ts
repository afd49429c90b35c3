import { generateKeyPairSync, randomBytes } from "node:crypto";

export type DevSigningAlgorithm = "ES256" | "RS256";

/** A private JWK in the shape oidc-provider's `jwks` configuration takes. */
export interface DevSigningKey extends Record<string, unknown> {
  readonly kid: string;
  readonly alg: DevSigningAlgorithm;
  readonly use: "sig";
}

function privateJwk(alg: DevSigningAlgorithm): Record<string, unknown> {
  const { privateKey } = alg === "ES256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { ...privateKey.export({ format: "jwk" }) };
}

/**
 * A fresh signing key. The kid is random rather than a thumbprint so that a test reading it
 * cannot confuse two keys, and it says where the key comes from when it shows up in a log.
 */
export function newDevSigningKey(alg: DevSigningAlgorithm): DevSigningKey {
  return { ...privateJwk(alg), kid: `dev-${randomBytes(9).toString("base64url")}`, alg, use: "sig" };
}
