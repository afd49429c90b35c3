import type { Response } from "express";
import { CustosError } from "../platform/errors.ts";
import type { Credential, UserCredential } from "../identity/credentials.ts";

/** The authenticated caller, set by whichever authenticator ran first on the route. */
export function setCredential(res: Response, credential: Credential): void {
  res.locals.credential = credential;
}

export function credentialOf(res: Response): Credential | undefined {
  const credential: unknown = res.locals.credential;
  return typeof credential === "object" && credential !== null && "kind" in credential ? (credential as Credential) : undefined;
}

/** The interactive user a route's authenticator set; anything else is not a user's credential. */
export function userCredentialOf(res: Response): UserCredential {
  const credential = credentialOf(res);
  if (credential?.kind !== "user") throw new CustosError("invalid_token");
  return credential;
}
