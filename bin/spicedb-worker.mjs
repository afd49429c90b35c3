// Worker-thread entry for the embedded SpiceDB engine when Custos runs from its TypeScript
// sources: a worker does not inherit the main thread's tsx loader, so it registers its own.
import { register } from "tsx/esm/api";

register();
await import("../src/authz/embedded-worker.ts");
