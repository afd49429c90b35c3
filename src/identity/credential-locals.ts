import type { Response } from "express";
import type { Credential } from "./admin-credential.ts";

/** The authenticated caller, set by whichever authenticator ran first on the route. */
export function setCredential(res: Response, credential: Credential): void {
  res.locals.credential = credential;
}

export function credentialOf(res: Response): Credential | undefined {
  const credential: unknown = res.locals.credential;
  return typeof credential === "object" && credential !== null && "kind" in credential ? (credential as Credential) : undefined;
}
