import { fileURLToPath } from "node:url";
import { openSpiceDbAuthorizer, type SpiceDbAuthorizer, type SpiceDbAuthorizerOptions } from "../../src/authz/spicedb-authorizer.ts";

/** The repository's own policies/ directory, so the schema under test is the one that ships. */
export const POLICIES_DIR = fileURLToPath(new URL("../../policies", import.meta.url));

/** A fresh embedded SpiceDB engine with policies/schema.zed written. Close it in afterAll. */
export function embeddedAuthorizer(options: SpiceDbAuthorizerOptions = {}): Promise<SpiceDbAuthorizer> {
  return openSpiceDbAuthorizer({ ...options, server: undefined, policiesDir: POLICIES_DIR });
}

export function codeOf(error: unknown): string | undefined {
  return (error as { code?: string } | undefined)?.code;
}
