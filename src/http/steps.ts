import type { Request, RequestHandler, Response } from "express";

/**
 * Route steps. A route's handlers are an ordered list of named steps, the way
 * node-oidc-provider lists its actions: authenticate, authorize, then `respond(...)`, which
 * reads the plain input a verb takes from the request, calls the verb, and sends its plain
 * result. Verbs never see `req` or `res`.
 */

/** Reads a verb's plain input from the request (path, query, body, the credential, the request id). */
export type InputOf<I> = (req: Request, res: Response) => I;

/**
 * The final step of a route: `status` (or the status the result calls for) with the result,
 * or `bodyOf(result)`, as JSON. A verb that throws a CustosError answers with its problem.
 */
export function respond<I, O>(
  status: number | ((result: O) => number),
  inputOf: InputOf<I>,
  verb: (input: I) => Promise<O>,
  bodyOf: (result: O) => unknown = (result) => result,
): RequestHandler {
  const step: RequestHandler = async (req, res) => {
    const result = await verb(inputOf(req, res));
    res.status(typeof status === "number" ? status : status(result)).json(bodyOf(result));
  };
  Object.defineProperty(step, "name", { value: `respond(${verb.name || "verb"})` });
  return step;
}
