/**
 * Reading an RFC 9470 step-up challenge on the command line: what the action needs
 * (`acr_values`, `max_age`), whether freshness is what failed, and whether this process may
 * open a sign-in to satisfy it. No imports: the admin commands load this on every refusal.
 */
export interface StepUpChallenge {
  /** Space-separated, as in the challenge; undefined when the challenge names none. */
  readonly acrValues: string | undefined;
  readonly maxAge: number | undefined;
  /** The problem body's `reason` (e.g. `auth_time_stale`), when it gave one. */
  readonly reason: string | undefined;
  readonly description: string | undefined;
}

/**
 * The parameters of a `Bearer` challenge (RFC 9110 §11.6.1 auth-params, quoted or token), read
 * left to right by hand: each quoted value is consumed whole, so text inside one is never read
 * as a parameter, and nothing backtracks on a hostile header.
 */
export function bearerChallengeParameters(header: string): Record<string, string> | undefined {
  const text = header.trimStart();
  if (text.slice(0, 6).toLowerCase() !== "bearer" || !isSpace(text.charAt(6))) return undefined;
  const parameters: Record<string, string> = {};
  let at = 6;
  while (at < text.length) {
    while (isSpace(text.charAt(at)) || text.charAt(at) === ",") at += 1;
    const nameStart = at;
    while (isTokenCharacter(text.charAt(at))) at += 1;
    const name = text.slice(nameStart, at).toLowerCase();
    while (isSpace(text.charAt(at))) at += 1;
    if (name === "" || text.charAt(at) !== "=") {
      // Not an auth-param (a token68, or noise): skip to the next separator.
      while (at < text.length && text.charAt(at) !== ",") at += 1;
      continue;
    }
    at += 1;
    while (isSpace(text.charAt(at))) at += 1;
    let value = "";
    if (text.charAt(at) === '"') {
      at += 1;
      while (at < text.length && text.charAt(at) !== '"') {
        if (text.charAt(at) === "\\" && at + 1 < text.length) at += 1;
        value += text.charAt(at);
        at += 1;
      }
      at += 1;
    } else {
      const valueStart = at;
      while (at < text.length && !isSpace(text.charAt(at)) && text.charAt(at) !== "," && text.charAt(at) !== '"') at += 1;
      value = text.slice(valueStart, at);
    }
    parameters[name] = value;
  }
  return parameters;
}

function isSpace(character: string): boolean {
  return character === " " || character === "\t";
}

function isTokenCharacter(character: string): boolean {
  return (character >= "a" && character <= "z") || (character >= "A" && character <= "Z") || (character >= "0" && character <= "9") || character === "_" || character === "." || character === "-";
}

function wholeSeconds(value: unknown): number | undefined {
  const number = typeof value === "string" && /^\d{1,9}$/.test(value) ? Number(value) : value;
  return typeof number === "number" && Number.isSafeInteger(number) && number >= 0 ? number : undefined;
}

/**
 * The challenge of a 401, when it is a step-up one (`error="insufficient_user_authentication"`);
 * the header is authoritative, the problem body adds the reason.
 */
export function stepUpChallengeOf(header: string | null, problem: unknown): StepUpChallenge | undefined {
  if (header === null) return undefined;
  const parameters = bearerChallengeParameters(header);
  if (parameters?.error !== "insufficient_user_authentication") return undefined;
  const body = typeof problem === "object" && problem !== null ? (problem as Record<string, unknown>) : {};
  const acrValues = parameters.acr_values?.trim();
  return {
    acrValues: acrValues === undefined || acrValues === "" ? undefined : acrValues,
    maxAge: wholeSeconds(parameters.max_age),
    reason: typeof body.reason === "string" ? body.reason : undefined,
    description: parameters.error_description,
  };
}

/** One line for the admin: what is missing, in the challenge's own terms. */
export function describeStepUp(challenge: StepUpChallenge): string {
  const needs: string[] = [];
  if (challenge.acrValues !== undefined) needs.push(`a sign-in of class ${challenge.acrValues.split(" ").join(" or ")}`);
  if (challenge.maxAge !== undefined) needs.push(`made within the last ${String(challenge.maxAge)} s`);
  const what = needs.length === 0 ? "a stronger sign-in" : needs.join(", ");
  return `this action needs ${what}${challenge.reason === undefined ? "" : ` (${challenge.reason})`}`;
}

/** Reasons that say the sign-in is too old (or its time unknown): only a new login fixes them. */
const FRESHNESS_REASONS = new Set(["auth_time_stale", "auth_time_missing", "auth_time_in_future"]);

export interface ReSignInParameters {
  readonly acrValues: string | undefined;
  readonly maxAge: number | undefined;
  /** `login` when freshness failed: the provider must authenticate again, not reuse its session. */
  readonly prompt: "login" | undefined;
}

export function reSignInParameters(challenge: StepUpChallenge): ReSignInParameters {
  return {
    acrValues: challenge.acrValues,
    maxAge: challenge.maxAge,
    prompt: challenge.reason !== undefined && FRESHNESS_REASONS.has(challenge.reason) ? "login" : undefined,
  };
}

export interface Surroundings {
  readonly env: NodeJS.ProcessEnv;
  readonly stdinIsTty: boolean;
  readonly stderrIsTty: boolean;
}

function ciIsSet(env: NodeJS.ProcessEnv): boolean {
  const ci = env.CI;
  return ci !== undefined && ci !== "" && ci.toLowerCase() !== "false" && ci !== "0";
}

/**
 * May a refused action open a new sign-in by itself? Only with a person at a terminal (stdin
 * and stderr are TTYs, and `CI` is not set), or when `CUSTOS_BROWSER` names the program that
 * receives the sign-in URL: that is someone saying explicitly that a browser is there.
 * Otherwise the command fails with the challenge, as an unattended job should.
 */
export function mayReSignIn(surroundings: Surroundings): boolean {
  const browser = surroundings.env.CUSTOS_BROWSER;
  if (browser !== undefined && browser !== "") return true;
  if (ciIsSet(surroundings.env)) return false;
  return surroundings.stdinIsTty && surroundings.stderrIsTty;
}

export function currentSurroundings(): Surroundings {
  // Typed boolean, but undefined at run time on a pipe or a file.
  const isTty = (stream: { isTTY?: boolean | undefined }): boolean => stream.isTTY === true;
  return { env: process.env, stdinIsTty: isTty(process.stdin), stderrIsTty: isTty(process.stderr) };
}
