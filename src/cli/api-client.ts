import type { StepUpChallenge } from "./login/step-up-challenge.ts";

/**
 * What the API-calling commands (node fetch, domain, secret) share: one HTTP call with a
 * bearer, and a refusal explained from the problem document (code and detail), never a
 * stack trace. A CommandRefused ends the command with exit status 1 and its message.
 */
export class CommandRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CommandRefused";
  }
}

/**
 * A command that is missing something it needs before it can call anything (a setting such as
 * CUSTOS_OPERATOR_TOKEN): exit status 2, like any other usage or configuration error.
 */
export class CommandUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CommandUsageError";
  }
}

/** What a refusal looked like, for a command to say what its user should check. */
export interface Refusal {
  readonly status: number;
  readonly code: string | undefined;
}

export interface CallOptions {
  /** Words of advice added to the message of a refusal; the HTTP answer itself is unchanged. */
  readonly hint?: (refusal: Refusal) => string | undefined;
  /**
   * Asked once when the answer is a step-up challenge (401, `insufficient_user_authentication`):
   * resolves with a new bearer to retry the call with once, or undefined to refuse as usual.
   */
  readonly onStepUp?: (challenge: StepUpChallenge) => Promise<string | undefined>;
  /** Advice added when the credential itself is refused (401 invalid_token): how to renew it. */
  readonly credentialAdvice?: string;
}

interface Answer {
  readonly response: Response;
  readonly parsed: unknown;
}

async function send(baseUrl: string, method: string, path: string, bearer: string, body: unknown): Promise<Answer> {
  let response: Response;
  try {
    response = await fetch(`${baseUrl.replace(/\/$/, "")}${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (error) {
    throw new CommandRefused(`cannot reach ${baseUrl}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page): the status alone explains the refusal.
  }
  return { response, parsed };
}

function refusalOf({ response, parsed }: Answer, options: CallOptions): CommandRefused {
  const problem = (parsed ?? {}) as { code?: string; detail?: string };
  const challenge = response.headers.get("www-authenticate");
  const retryAfter = response.headers.get("retry-after");
  const hint =
    problem.code === "step_up_required" && challenge !== null ? ` (${challenge})`
    : response.status === 429 && retryAfter !== null ? ` (retry after ${retryAfter} s)`
    : "";
  const advice =
    response.status === 401 && problem.code === "invalid_token" && options.credentialAdvice !== undefined
      ? options.credentialAdvice
      : options.hint?.({ status: response.status, code: problem.code });
  return new CommandRefused(
    `refused: HTTP ${String(response.status)} ${problem.code ?? ""}${problem.detail === undefined ? "" : `: ${problem.detail}`}${hint}${advice === undefined ? "" : `\n  ${advice}`}`,
  );
}

async function stepUpChallengeIn({ response, parsed }: Answer): Promise<StepUpChallenge | undefined> {
  if (response.status !== 401) return undefined;
  // Imported on a 401 only: `custos --help` loads the registrations and nothing else.
  const { stepUpChallengeOf } = await import("./login/step-up-challenge.ts");
  return stepUpChallengeOf(response.headers.get("www-authenticate"), parsed);
}

/**
 * One call; on a step-up challenge, with `onStepUp`, one new sign-in and one retry, never more:
 * a second challenge is refused with its own words, as without `onStepUp`.
 */
export async function callApi(baseUrl: string, method: string, path: string, bearer: string, body?: unknown, options: CallOptions = {}): Promise<{ status: number; body: unknown }> {
  let answer = await send(baseUrl, method, path, bearer, body);
  const challenge = options.onStepUp === undefined ? undefined : await stepUpChallengeIn(answer);
  if (challenge !== undefined && options.onStepUp !== undefined) {
    const stepped = await options.onStepUp(challenge);
    if (stepped !== undefined) answer = await send(baseUrl, method, path, stepped, body);
  }
  if (answer.response.status >= 400) throw refusalOf(answer, options);
  return { status: answer.response.status, body: answer.parsed };
}
