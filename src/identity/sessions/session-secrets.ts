import { createHash, createHmac, randomBytes } from "node:crypto";

/**
 * Browser-side secrets. The database keeps only SHA-256 digests of them; everything else a
 * sign-in needs is derived from the secret the cookie carries, so a copy of the database
 * gives an attacker neither a session nor a half-finished login to complete.
 */
const SECRET_BYTES = 32;
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function newBrowserSecret(): string {
  return randomBytes(SECRET_BYTES).toString("base64url");
}

/** A cookie value that could not be one of ours is refused before any lookup. */
export function isWellFormedBrowserSecret(value: unknown): value is string {
  return typeof value === "string" && SECRET_PATTERN.test(value);
}

export function secretDigest(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

function derive(secret: string, purpose: string): string {
  return createHmac("sha256", secret).update(`custos/v1/${purpose}`).digest("base64url");
}

export interface LoginAttemptParameters {
  readonly state: string;
  readonly nonce: string;
  /** 43 base64url characters: within RFC 7636's 43-128 range for a code_verifier. */
  readonly codeVerifier: string;
}

export function loginAttemptParameters(attemptSecret: string): LoginAttemptParameters {
  return {
    state: derive(attemptSecret, "login/state"),
    nonce: derive(attemptSecret, "login/nonce"),
    codeVerifier: derive(attemptSecret, "login/pkce"),
  };
}

/** The token a browser app echoes in X-CSRF-Token on state-changing requests. */
export function csrfTokenFor(sessionSecret: string): string {
  return derive(sessionSecret, "session/csrf");
}
