/**
 * What the administering commands share: one HTTP call to the Custos API with a bearer, and
 * a refusal explained from the problem document (code and detail), never a stack trace.
 */
export class ApiRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ApiRefused";
  }
}

export async function callApi(baseUrl: string, method: string, path: string, bearer: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  let response: Response;
  try {
    response = await fetch(`${baseUrl.replace(/\/$/, "")}${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (error) {
    throw new ApiRefused(`cannot reach ${baseUrl}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page): the status alone explains the refusal.
  }
  if (response.status >= 400) {
    const problem = (parsed ?? {}) as { code?: string; detail?: string };
    const challenge = response.headers.get("www-authenticate");
    const stepUp = problem.code === "step_up_required" && challenge !== null ? ` (${challenge})` : "";
    throw new ApiRefused(`refused: HTTP ${String(response.status)} ${problem.code ?? ""}${problem.detail === undefined ? "" : `: ${problem.detail}`}${stepUp}`);
  }
  return { status: response.status, body: parsed };
}
