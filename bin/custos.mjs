#!/usr/bin/env node
// Runs the TypeScript sources directly so that `npx custos` works right after `npm ci`,
// with no build step. `npm run build` still produces plain JavaScript under dist/.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
