import type { Server } from "node:http";
import path from "node:path";
import type { Express } from "express";
import { auditRoutes } from "./audit/audit.routes.ts";
import { createAuditKeyring, type AuditKeyring } from "./audit/audit-keys.ts";
import { startAuditSchedule, type AuditSchedule } from "./audit/audit-schedule.ts";
import { createGroupCommitAppender, type GroupCommitAppender } from "./audit/group-commit-appender.ts";
import { createGrantSigningKeys, createSigningKeys } from "./access/signing-keys.ts";
import { grantRoutes } from "./access/grants.routes.ts";
import { MAX_GRANT_TTL_SECONDS } from "./access/issue-grant.ts";
import { loadStepUpPolicy, STEP_UP_POLICY_FILE, type StepUpPolicy } from "./access/step-up-policy.ts";
import { createDenialRecorder, type DenialRecorder } from "./audit/denial-recorder.ts";
import { openSpiceDbAuthorizer, SpiceDbDomainMembership, type Authorizer } from "./authz/index.ts";
import { durableRelationships, EMBEDDED_ENGINE_LOCK_KEY, EmbeddedEngineInUse, EmbeddedEngineServing, restoreRelationships } from "./authz/durable-relationships.ts";
import { createEventAnnouncer, type EventAnnouncer } from "./events/event-announcer.ts";
import type { EventBus } from "./events/event-bus.ts";
import { createStreamSlots, type StreamSlots } from "./events/event-streams.ts";
import { eventRoutes } from "./events/events.routes.ts";
import { openEventBus } from "./events/open-event-bus.ts";
import { buildHttpApp } from "./http/app.ts";
import { createHttpServer } from "./http/server.ts";
import { requireChainReader, requireDomainPermission, requireDomainUser, requireOperator } from "./http/authenticate-steps.ts";
import { createNodeRepository } from "./nodes/node-repo.ts";
import { consoleRoutes } from "./console/console.routes.ts";
import { nodeRoutes } from "./nodes/nodes.routes.ts";
import { createWrapKeyCache } from "./nodes/wrap-key-cache.ts";
import { createDomainRepository } from "./identity/domains/domain-repo.ts";
import { domainRoutes } from "./identity/domains/domains.routes.ts";
import { signInDiscoveryRoutes } from "./identity/domains/sign-in-discovery.routes.ts";
import { discoverJwksUri } from "./identity/oidc/discovery.ts";
import { createHttpJwksFetcher } from "./identity/oidc/fetch-jwks.ts";
import { createIdTokenVerifier } from "./identity/oidc/id-token-verifier.ts";
import { createJwksCache } from "./identity/oidc/jwks-cache.ts";
import { isLoopbackHost } from "./platform/loopback.ts";
import { createCodeFlowSignIn } from "./identity/oidc/code-flow.ts";
import { createSessionRepository } from "./identity/sessions/session-repo.ts";
import { signInRoutes } from "./identity/sessions/sign-in.routes.ts";
import { SIGN_IN_PURGE_INTERVAL_MS, startSignInPurge } from "./identity/sessions/sign-in-purge.ts";
import type { RouteDefinition } from "./http/routes.ts";
import { sqlAuditStore } from "./audit/audit-store.ts";
import { MIGRATIONS_DIR } from "./package-paths.ts";
import type { Config } from "./platform/config.ts";
import { CustosError } from "./platform/errors.ts";
import { openDatabase } from "./platform/db/connect.ts";
import type { Database } from "./platform/db/database.ts";
import { loadMigrations, migrateUp } from "./platform/db/migrate.ts";
import { createLogger, type Logger } from "./platform/logging.ts";
import { createMetrics } from "./platform/metrics.ts";
import { createStages, startTelemetry, type TelemetryEnvironment } from "./platform/telemetry.ts";
import { openSecretBackend } from "./secrets/open-secret-backend.ts";
import { loadRateLimitPolicy, RATE_LIMIT_POLICY_FILE } from "./platform/rate-limit/rate-limit-policy.ts";
import { connectRedis } from "./platform/rate-limit/redis-connection.ts";
import { rateLimitStoreFactory } from "./platform/rate-limit/rate-limit-stores.ts";
import type { SecretBackend } from "./secrets/secret-backend.ts";
import { createSecretRepository } from "./secrets/secret-repo.ts";
import { createReadDecisions } from "./secrets/read-decisions.ts";
import { secretRoutes } from "./secrets/secrets.routes.ts";
import type { ReadinessProbe } from "./platform/readiness.ts";

/**
 * The composition root: the only place that chooses adapters (PostgreSQL or PGlite, SpiceDB
 * server or embedded engine, OpenBao or local backend) from configuration and wires them to
 * the capabilities' ports.
 */
export interface Custos {
  readonly config: Config;
  readonly app: Express;
  readonly db: Database;
  readonly logger: Logger;
  readonly audit: GroupCommitAppender;
  /** Summarised refusals; `flush()` writes the pending summaries (close() does too). */
  readonly denials: DenialRecorder;
  /** The audit keys: the active key signs, every registered key verifies and is published. */
  readonly auditSigner: AuditKeyring;
  /** Scheduled checkpoints, witness files and mirrors; tests call `tick()` on a fake clock. */
  readonly auditSchedule: AuditSchedule;
  readonly authorizer: Authorizer;
  readonly stepUpPolicy: StepUpPolicy;
  readonly backend: SecretBackend;
  /** Signed events to nodes: what the verbs announce through (docs/design.md, "Signed events"). */
  readonly events: EventAnnouncer;
  readonly eventBus: EventBus;
  /** Open event streams on this replica, per node. */
  readonly eventStreams: StreamSlots;
  close(): Promise<void>;
}

export interface BuildCustosOptions {
  readonly config: Config;
  readonly logger?: Logger;
  /** Tests hand in their own isolated database; it is then theirs to close. */
  readonly database?: Database;
  readonly migrationsDir?: string;
  readonly warnings?: readonly string[];
  /** Epoch seconds; tests move time. */
  readonly now?: () => number;
  /** Tests hand in a backend (the OpenBao double, a failing one); it is then theirs to close. */
  readonly backend?: SecretBackend;
  /** Tests observe the real authorizer's calls through a decorator; it still answers. */
  readonly decorateAuthorizer?: (authorizer: Authorizer) => Authorizer;
  /** More for /readyz to ask: `custos dev` is not ready until its demo is seeded. */
  readonly readiness?: readonly ReadinessProbe[];
  /** How often expired login attempts and sessions are purged (default five minutes). */
  readonly signInPurgeIntervalMs?: number;
  /** Tests hold a flood in one summary window however slow the machine (default 10 s). */
  readonly denialWindowMs?: number;
  /** How often the audit schedule ticks (default 30 s); tests drive `auditSchedule.tick()` instead. */
  readonly auditScheduleTickMs?: number;
  /** Where OTEL_EXPORTER_OTLP_ENDPOINT (and CUSTOS_BENCH_SPANS) are read; process.env by default. */
  readonly telemetryEnv?: TelemetryEnvironment;
}

export async function buildCustos(options: BuildCustosOptions): Promise<Custos> {
  const { config } = options;
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const ownsDatabase = options.database === undefined;
  const db =
    options.database ??
    (await openDatabase({ databaseUrl: config.databaseUrl, pgliteDir: path.join(config.dataDir, "pglite") }));
  const closers: (() => Promise<void>)[] = [];
  if (ownsDatabase) closers.push(() => db.close());

  try {
    const applied = await migrateUp(db, await loadMigrations(options.migrationsDir ?? MIGRATIONS_DIR));
    for (const migration of applied) logger.info({ version: migration.version, name: migration.name }, "migration applied");

    const metrics = createMetrics();
    // The trace SDK only when a destination is set; otherwise the API's no-op tracer.
    const telemetry = await startTelemetry(options.telemetryEnv ?? process.env);
    if (telemetry !== undefined) closers.push(() => telemetry.shutdown());
    const stages = createStages(metrics.stageDuration);
    const audit = createGroupCommitAppender({
      db,
      timeoutMs: config.auditTimeoutMs,
      onBatchCommitted: (_chain, size, path) => {
        metrics.auditRecords.inc(size);
        metrics.auditBatchSize.observe(size);
        metrics.auditBatches.inc({ path });
      },
      onBatchFailed: () => { metrics.auditBatchFailures.inc(); },
    });
    closers.push(() => audit.drain());
    // Closed before the appender drains (closers run in reverse): pending summaries are written.
    const denials = createDenialRecorder(audit, options.denialWindowMs === undefined ? {} : { windowMs: options.denialWindowMs });
    closers.push(() => denials.flush());
    const operator = requireOperator({ operatorToken: config.operatorToken, audit, denials });
    const now = options.now ?? (() => Math.floor(Date.now() / 1000));
    // Policies are validated before anything listens: a bad file stops start-up, naming itself.
    const stepUpPolicy = await loadStepUpPolicy(path.join(config.policiesDir, STEP_UP_POLICY_FILE));
    const rateLimits = await loadRateLimitPolicy(path.join(config.policiesDir, RATE_LIMIT_POLICY_FILE));

    const backend = options.backend ?? (await openSecretBackend(config));
    if (options.backend === undefined) closers.push(() => backend.close());
    const auditSigner = createAuditKeyring({ db, file: config.auditKeyFile, wrapper: backend, create: true });
    // Creates the key file on first start and registers its public key; a file that does not
    // hold the active key (another deployment's, or rotated away) refuses signing, not start-up.
    await auditSigner.signingKey().catch((error: unknown) => {
      if (!(error instanceof CustosError)) throw error;
      logger.warn({ file: config.auditKeyFile }, `audit signing refused until fixed: ${error.message}`);
    });
    const auditSchedule = startAuditSchedule({
      db,
      keys: auditSigner,
      policy: { intervalSeconds: config.auditSchedule.checkpointIntervalSeconds, everyRecords: config.auditSchedule.checkpointEveryRecords },
      witnessDir: config.auditSchedule.witnessDir,
      mirrorDir: config.auditSchedule.mirrorDir,
      clock: () => new Date(options.now === undefined ? Date.now() : options.now() * 1000),
      ...(options.auditScheduleTickMs === undefined ? {} : { tickMs: options.auditScheduleTickMs }),
      onError: (job, error) => {
        metrics.auditScheduleFailures.inc({ job });
        logger.warn({ err: error, job }, `scheduled audit ${job} job failed; retrying at the next tick`);
      },
      onStatus: (statuses) => {
        const latest = statuses.flatMap((status) =>
          status.checkpoint === undefined ? [] : [{ chain: status.chain, seq: status.checkpoint.seq, signedAtMs: Date.parse(status.checkpoint.signedAt) }]);
        metrics.auditCheckpoints.show(latest, () => (options.now === undefined ? Date.now() : options.now() * 1000));
      },
    });
    closers.push(() => auditSchedule.stop());
    const redis = config.rateLimitStore === "redis" && config.redisUrl !== undefined ? await connectRedis(config.redisUrl) : undefined;
    if (redis !== undefined) closers.push(async () => { await redis.close(); });
    const rateLimitStore = rateLimitStoreFactory(config.rateLimitStore, db, redis);

    const engineIsEmbedded = config.spicedb === undefined;
    // The embedded engine answers for one process only: a second replica on the same database
    // would never see this one's writes, so it must not start. Replicas with a SpiceDB server
    // share the lock: an embedded-engine process beside them would answer from grants they
    // never see (and its revokes would not reach the server), nor may they join one.
    const owner = await db.holdAdvisoryLock(EMBEDDED_ENGINE_LOCK_KEY, engineIsEmbedded ? "exclusive" : "shared");
    if (owner === undefined) throw engineIsEmbedded ? new EmbeddedEngineInUse() : new EmbeddedEngineServing();
    closers.push(() => owner.release());
    const spicedb = await openSpiceDbAuthorizer({ server: config.spicedb, policiesDir: config.policiesDir });
    closers.push(() => {
      spicedb.close();
      return Promise.resolve();
    });
    let engine: Authorizer = spicedb;
    if (engineIsEmbedded) {
      // Restored before anything listens: /readyz never says ready with grants missing.
      const restored = await restoreRelationships(spicedb, db);
      logger.info({ relationships: restored }, "embedded SpiceDB engine restored from the database");
      engine = durableRelationships(spicedb, db);
    }
    const authorizer = options.decorateAuthorizer?.(engine) ?? engine;
    const domains = createDomainRepository(db);
    const sessions = createSessionRepository(db);
    const signInPurge = startSignInPurge({
      sessions,
      now,
      intervalMs: options.signInPurgeIntervalMs ?? SIGN_IN_PURGE_INTERVAL_MS,
      onError: (error) => { logger.warn({ err: error }, "purging expired sign-in rows failed; retrying at the next interval"); },
    });
    closers.push(() => signInPurge.stop());
    const jwks = createJwksCache({ fetchJwks: createHttpJwksFetcher(), jwksUriFor: discoverJwksUri, now });
    const idTokens = createIdTokenVerifier({ jwks, leewaySeconds: config.oidcLeewaySeconds, now });
    const userAccess = { domains, sessions, idTokens, audit, denials, now, authorizer };
    const domainUser = requireDomainUser(userAccess);
    const stepUp = { policy: stepUpPolicy, leewaySeconds: config.oidcLeewaySeconds, now, audit, stages };
    const nodes = createNodeRepository(db);
    const secrets = createSecretRepository(db);
    // One cache of unwrapped wrap_keys for the read path and rotations (wrap-key-cache.ts).
    const wrapKeys = createWrapKeyCache(backend);
    const grantKeys = createGrantSigningKeys({ db, wrapper: backend, publishRetiredForSeconds: MAX_GRANT_TTL_SECONDS + config.oidcLeewaySeconds });
    // A retired event key stays published as long as the bus may still replay what it signed.
    const eventKeys = createSigningKeys({
      purpose: "event", db, wrapper: backend,
      publishRetiredForSeconds: Math.max(config.events.retentionSeconds, config.events.ttlSeconds + config.oidcLeewaySeconds),
    });
    const eventBus = await openEventBus(config.events);
    closers.push(() => eventBus.close());
    const events = createEventAnnouncer({
      keys: eventKeys, audit, bus: eventBus, ttlSeconds: config.events.ttlSeconds, now, logger,
      onPublished: (type, count) => { metrics.eventsPublished.inc({ type }, count); },
      onPublishFailed: (type) => { metrics.eventPublishFailures.inc({ type }); },
    });
    const eventStreams = createStreamSlots(config.events.maxStreamsPerNode);

    const readiness: ReadinessProbe[] = [
      { name: "database", check: async () => { await db.query("SELECT 1"); } },
      authorizer.readiness,
      backend.readiness,
      ...(redis === undefined ? [] : [{ name: "rate_limit_store", check: () => redis.ping() }]),
      ...(eventBus.readiness === undefined ? [] : [eventBus.readiness]),
      ...(options.readiness ?? []),
    ];
    // The read APIs' gate: a domain's admins and auditors (domain.read).
    const domainReader = requireDomainPermission(userAccess, { action: "domain.read", anyOf: ["administer", "audit"] });
    const membership = new SpiceDbDomainMembership(authorizer);
    const routes: RouteDefinition[] = [
      // First: Express tries routes in order, and a node's secret read is the route called most.
      ...secretRoutes({ ...stepUp, secrets, denials, authorizer, backend, nodes, wrapKeys, decisions: createReadDecisions(), requireDomainUser: domainUser, requireDomainReader: domainReader, rateLimits, rateLimitStore, events }),
      ...(await consoleRoutes()),
      ...domainRoutes({
        domains, members: membership, membership, audit, requireOperator: operator, requireDomainReader: domainReader,
        countNodes: (domain) => nodes.countNodes(domain), countSecrets: (domain) => secrets.countInDomain(domain),
      }),
      ...signInDiscoveryRoutes({ domains }),
      ...signInRoutes({
        domains,
        sessions,
        provider: createCodeFlowSignIn({ verifier: idTokens, leewaySeconds: config.oidcLeewaySeconds, now }),
        audit,
        denials,
        now,
        publicUrl: config.publicUrl,
      }),
      ...grantRoutes({ ...stepUp, authorizer, keys: grantKeys, eventKeys, events, domains, requireDomainUser: domainUser, requireDomainReader: domainReader, db }),
      ...nodeRoutes({
        ...stepUp, authorizer, wrapper: backend, wrapKeys, requireDomainUser: domainUser, nodes, denials, nskGraceSeconds: config.nskGraceSeconds,
        rateLimits, rateLimitStore, requireDomainReader: domainReader, events,
        lastSecretReads: (chain, actors) => sqlAuditStore.lastGrantedSecretReads(db, chain, actors),
      }),
      ...eventRoutes({
        ...stepUp, authorizer, nodes, denials, bus: eventBus, slots: eventStreams, heartbeatSeconds: config.events.heartbeatSeconds,
        eventKeys, events, requireDomainUser: domainUser,
      }),
      ...auditRoutes({
        db,
        keys: auditSigner,
        requireAuditor: requireChainReader(operator, requireDomainPermission(userAccess, { action: "audit.read", anyOf: ["audit"] })),
        requireCheckpointSigner: requireChainReader(operator, requireDomainPermission(userAccess, { action: "audit.checkpoint", anyOf: ["audit", "administer"] })),
      }),
    ];

    const app = buildHttpApp({
      logger,
      metrics,
      routes,
      readiness,
      warnings: options.warnings ?? [],
      version: "0.1.0",
      trustProxy: config.trustProxy,
      publicUrl: config.publicUrl,
    });

    return {
      config,
      app,
      db,
      logger,
      audit,
      denials,
      auditSigner,
      auditSchedule,
      authorizer,
      stepUpPolicy,
      backend,
      events,
      eventBus,
      eventStreams,
      async close() {
        for (const close of closers.reverse()) await close();
      },
    };
  } catch (error) {
    for (const close of closers.reverse()) await close();
    throw error;
  }
}

/** Why Custos could not listen, in words that say which setting changes it. */
export class ListenError extends Error {
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = "ListenError";
  }
}

function listenFailure(error: NodeJS.ErrnoException, host: string, port: number): ListenError {
  const where = `${host}:${String(port)}`;
  switch (error.code) {
    case "EADDRINUSE":
      return new ListenError(`cannot listen on ${where}: the port is already in use; stop what holds it, or choose another port with CUSTOS_PORT`, { cause: error });
    case "EACCES":
      return new ListenError(`cannot listen on ${where}: permission denied; choose a port above 1023 with CUSTOS_PORT`, { cause: error });
    case "EADDRNOTAVAIL":
      return new ListenError(`cannot listen on ${where}: no such address on this machine; set CUSTOS_HOST to one of its addresses`, { cause: error });
    default:
      return new ListenError(`cannot listen on ${where}: ${error.message} (CUSTOS_HOST, CUSTOS_PORT)`, { cause: error });
  }
}

export interface RunningServer {
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

export async function listen(custos: Custos, host: string, port: number): Promise<RunningServer> {
  // Header and URL sizes, slow and idle clients: bounded by Node before the app runs.
  const server = createHttpServer(custos.app);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => { reject(listenFailure(error, host, port)); });
    server.listen(port, host, () => { server.removeAllListeners("error"); resolve(); });
  });
  const address = server.address();
  const boundPort = typeof address === "object" && address !== null ? address.port : port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${boundPort}`;
  if (!isLoopbackHost(host)) {
    custos.logger.warn(
      { host, port: boundPort },
      "SERVING PLAIN HTTP ON A NON-LOOPBACK ADDRESS: bearers and session cookies cross the network unencrypted; put Custos behind TLS",
    );
  }
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => { if (error) reject(error); else resolve(); });
        server.closeAllConnections();
      }),
  };
}
