/**
 * Who is calling, once authenticated. The step-up gate accepts only `user` credentials:
 * node bearers and the operator token are never an interactive user's authentication.
 */
export interface UserCredential {
  readonly kind: "user";
  readonly via: "id_token" | "session";
  readonly domain: string;
  /** `oidc:<domain>:<sub>` */
  readonly subject: string;
  readonly acr: string | undefined;
  readonly amr: readonly string[];
  readonly authTime: number | undefined;
}

export interface OperatorCredential {
  readonly kind: "operator";
}

export interface NodeCredential {
  readonly kind: "node";
  readonly nodeId: string;
  readonly domain: string;
  readonly kid: string;
}

export type Credential = UserCredential | OperatorCredential | NodeCredential;

/** The claims Custos keeps from a verified id_token. */
export interface VerifiedSignIn {
  readonly sub: string;
  readonly subject: string;
  readonly acr: string | undefined;
  readonly amr: readonly string[];
  readonly authTime: number | undefined;
}
