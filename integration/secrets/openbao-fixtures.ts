import { expect } from "vitest";
import { CustosError } from "../../src/platform/errors.ts";

/** The CustosError a promise rejects with; fails the test if it resolves or rejects otherwise. */
export async function rejection(promise: Promise<unknown>): Promise<CustosError> {
  const outcome = await promise.then(
    () => new Error("expected a rejection"),
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(CustosError);
  return outcome as CustosError;
}
