import { randomBytes } from "node:crypto";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import postgres from "postgres";
import type { DevProvider } from "../../src/dev/provider/dev-provider.ts";
import { deriveBearerSecret, formatNodeBearer } from "../../src/nodes/nsk.ts";
import { POLICIES_DIR } from "../../src/package-paths.ts";
import { CLIENT_ID, obtainIdToken, startTestProvider } from "../identity/oidc-fixtures.ts";
import { runCli } from "../support/cli.ts";
import { startServeProcess, type ServeProcess } from "../support/serve-process.ts";
import { startSpiceDbGrpcFixture, type SpiceDbGrpcFixture } from "../support/spicedb-grpc-fixture.ts";
import { createIsolatedStore, type IsolatedStore } from "../support/stores.ts";

/**
 * Several `custos serve` processes on one fresh PostgreSQL database, as a deployment runs them:
 * one SpiceDB server (the gRPC fixture) that every replica's SPICEDB_ENDPOINT names, one data
 * directory shared by all (the local secret backend's key and files, the audit key), a
 * development OpenID provider as the domain's issuer. Set up through the API only. Used by
 * the replica tests and by `npm run drill`.
 */
export const DOMAIN = "acme";
export const SECRET = "db-password";

export interface EnrolledNode {
  readonly node_id: string;
  readonly kid: string;
  readonly nsk: string;
}

export interface ReplicaDeployment {
  readonly store: IsolatedStore;
  readonly spicedb: SpiceDbGrpcFixture;
  readonly provider: DevProvider;
  readonly dataDir: string;
  readonly operatorToken: string;
  /** The environment every replica shares. */
  readonly env: Readonly<Record<string, string>>;
  readonly replicas: ServeProcess[];
  /** Starts one more replica with the shared environment (plus `extra`). */
  addReplica(extra?: Readonly<Record<string, string>>): Promise<ServeProcess>;
  /** An admin's id_token (alice, password + one-time code: strong enough for every step-up). */
  adminToken(): Promise<string>;
  /** Calls a replica's API with a bearer and an optional JSON body. */
  call(replica: ServeProcess, method: string, path: string, bearer: string, body?: unknown): Promise<Response>;
  /** Puts the domain, enrolls a node, writes the secret and grants the node, all through `replica`. */
  provision(replica: ServeProcess): Promise<EnrolledNode>;
  /** GET the secret through `replica` as `node`; the status, 0 when no answer came. */
  readSecret(replica: ServeProcess, node: EnrolledNode, timeoutMs?: number): Promise<number>;
  /** Granted secret.read records in the domain's audit chain. */
  grantedReads(): Promise<number>;
  /** `custos audit verify <domain> --json`: exit code and report. */
  verifyChain(): Promise<{ code: number | null; ok: boolean; rows: number; output: string }>;
  close(): Promise<void>;
}

export interface ReplicaDeploymentOptions {
  readonly replicas?: number;
  /** Secret-read budget per node and per domain per minute (raised so it does not cap load). */
  readonly readBudget?: number;
  /**
   * Where the replicas reach the PostgreSQL server (e.g. a proxy in front of it), in place of
   * DATABASE_URL's host and port; the deployment's own connections (counting records, the
   * CLI's verify) still go direct.
   */
  readonly replicaDatabaseAddress?: { readonly host: string; readonly port: number };
  /** More settings every replica shares (the event bus's NATS_URL and stream, for instance). */
  readonly replicaEnv?: Readonly<Record<string, string>>;
}

export async function startReplicaDeployment(options: ReplicaDeploymentOptions = {}): Promise<ReplicaDeployment> {
  const serverUrl = process.env.DATABASE_URL;
  if (serverUrl === undefined || serverUrl === "") throw new Error("replicas share a PostgreSQL server: set DATABASE_URL");
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step().catch(() => undefined);
  };
  try {
    const store = await createIsolatedStore("postgres");
    cleanups.push(() => store.dispose());
    const scratch = await mkdtemp(path.join(os.tmpdir(), "custos-replicas-"));
    cleanups.push(() => rm(scratch, { recursive: true, force: true }));
    const dataDir = path.join(scratch, "data");
    const policies = path.join(scratch, "policies");
    await mkdir(policies);
    await copyFile(path.join(POLICIES_DIR, "schema.zed"), path.join(policies, "schema.zed"));
    await copyFile(path.join(POLICIES_DIR, "step-up.yaml"), path.join(policies, "step-up.yaml"));
    const budget = String(options.readBudget ?? 1_000_000);
    await writeFile(
      path.join(policies, "rate-limits.yaml"),
      `secret_reads:\n  per_node: { limit: ${budget}, window_seconds: 60 }\n  per_domain: { limit: ${budget}, window_seconds: 60 }\n` +
        "node_rotations:\n  per_node: { limit: 3, window_seconds: 3600 }\n",
    );
    const spicedb = await startSpiceDbGrpcFixture();
    cleanups.push(() => spicedb.close());
    const provider = await startTestProvider([DOMAIN]);
    cleanups.push(() => provider.close());
    const operatorToken = randomBytes(32).toString("base64url");
    const replicaDatabase: Record<string, string> = {};
    if (options.replicaDatabaseAddress !== undefined) {
      const url = new URL(store.env.DATABASE_URL ?? "");
      url.hostname = options.replicaDatabaseAddress.host;
      url.port = String(options.replicaDatabaseAddress.port);
      replicaDatabase.DATABASE_URL = url.toString();
    }
    const env: Record<string, string> = {
      ...store.env,
      ...replicaDatabase,
      ...spicedb.env,
      CUSTOS_DATA_DIR: dataDir,
      CUSTOS_POLICIES_DIR: policies,
      CUSTOS_OPERATOR_TOKEN: operatorToken,
      ...options.replicaEnv,
    };
    const replicas: ServeProcess[] = [];
    cleanups.push(async () => { await Promise.all(replicas.map((replica) => replica.stop())); });
    const addReplica = async (extra: Readonly<Record<string, string>> = {}) => {
      const replica = await startServeProcess({ ...env, ...extra });
      replicas.push(replica);
      return replica;
    };
    // Started together, as an orchestrator starts them: migrations, the shared key files and
    // the schema write all race on a fresh database and data directory.
    await Promise.all(Array.from({ length: options.replicas ?? 2 }, () => addReplica()));

    const call = (replica: ServeProcess, method: string, route: string, bearer: string, body?: unknown) =>
      fetch(`${replica.url}${route}`, {
        method,
        headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const adminToken = () => obtainIdToken(provider, DOMAIN, { account: "alice", strength: "mfa" });
    const expectStatus = async (response: Promise<Response>, status: number, what: string) => {
      const answer = await response;
      if (answer.status !== status) throw new Error(`${what} answered ${String(answer.status)}: ${await answer.text()}`);
      return answer;
    };
    const database = postgres(store.env.DATABASE_URL ?? "", { max: 1, onnotice: () => undefined });
    cleanups.push(() => database.end());

    return {
      store, spicedb, provider, dataDir, operatorToken, env, replicas, addReplica, adminToken, call,
      async provision(replica) {
        await expectStatus(call(replica, "PUT", `/v1/domains/${DOMAIN}`, operatorToken, {
          issuer: provider.issuer, client_id: CLIENT_ID, admins: ["alice"], auditors: ["bob@example.org"],
        }), 201, "PUT domain");
        const admin = await adminToken();
        const node = (await (await expectStatus(call(replica, "POST", `/v1/domains/${DOMAIN}/nodes`, admin, { name: "replica-test-node" }), 201, "enroll")).json()) as EnrolledNode;
        await expectStatus(call(replica, "PUT", `/v1/domains/${DOMAIN}/secrets/${SECRET}`, admin, { value: "s3cret-value" }), 201, "PUT secret");
        await expectStatus(call(replica, "PUT", `/v1/domains/${DOMAIN}/secrets/${SECRET}/readers/${node.node_id}`, admin), 204, "grant");
        return node;
      },
      readSecret(replica, node, timeoutMs = 15_000) {
        const bearer = formatNodeBearer(node.kid, deriveBearerSecret(Buffer.from(node.nsk, "base64url")));
        return fetch(`${replica.url}/v1/nodes/${node.node_id}/secrets/${SECRET}`, {
          headers: { authorization: `Bearer ${bearer}` },
          signal: AbortSignal.timeout(timeoutMs),
        }).then(async (response) => {
          await response.arrayBuffer();
          return response.status;
        }, () => 0);
      },
      async grantedReads() {
        const [row] = await database<{ n: number }[]>`
          SELECT count(*)::int AS n FROM audit_events WHERE chain = ${DOMAIN} AND action = 'secret.read' AND decision = 'granted'`;
        return row?.n ?? 0;
      },
      async verifyChain() {
        const result = await runCli(["audit", "verify", DOMAIN, "--json"], { ...store.env, CUSTOS_DATA_DIR: dataDir });
        let report: { ok?: boolean; rows_checked?: number } = {};
        try {
          report = JSON.parse(result.stdout) as typeof report;
        } catch {
          // the exit code and output say what went wrong
        }
        return { code: result.code, ok: report.ok === true, rows: report.rows_checked ?? 0, output: result.stdout + result.stderr };
      },
      close: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** Statuses by count, e.g. `{ "200": 398, "0": 2 }`. */
export function tally(statuses: readonly number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const status of statuses) counts[String(status)] = (counts[String(status)] ?? 0) + 1;
  return counts;
}
