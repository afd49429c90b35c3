/**
 * oidc-provider prints "oidc-provider WARNING: Unsupported runtime. Use Node.js v22.x LTS, or a
 * later LTS release." on console.warn when it is first evaluated under Node 20, and offers no
 * setting to turn it off. Custos supports Node 20.19+, and the development provider works on it
 * (the test suite runs it there), so the line is noise a user cannot act on. This import drops
 * exactly that line while the module evaluates; every other warning passes through unchanged.
 */
export const SUPPRESSED_OIDC_PROVIDER_WARNING = "oidc-provider WARNING: Unsupported runtime.";

/* eslint-disable no-console -- the filter has to stand in for console.warn while the module evaluates */
export async function importOidcProvider(): Promise<typeof import("oidc-provider")> {
  const original = console.warn;
  console.warn = (...args: unknown[]) => {
    // On a terminal the line is wrapped in colour codes, hence includes() rather than startsWith().
    if (args.length === 1 && typeof args[0] === "string" && args[0].includes(SUPPRESSED_OIDC_PROVIDER_WARNING)) return;
    original.apply(console, args);
  };
  try {
    return await import("oidc-provider");
  } finally {
    console.warn = original;
  }
}
/* eslint-enable no-console */
