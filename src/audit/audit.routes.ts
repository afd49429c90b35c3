import type { NextFunction, Request, RequestHandler, Response } from "express";
import { PROBLEM_RESPONSE } from "../http/openapi.ts";
import type { RouteDefinition } from "../http/routes.ts";
import { json, respond } from "../http/steps.ts";
import type { Database } from "../platform/db/database.ts";
import { CustosError } from "../platform/errors.ts";
import { parseChainName } from "../platform/names.ts";
import type { AuditKeyring } from "./audit-keys.ts";
import { auditEventLines, isEmptyFilter, readAuditEvents, verifyAuditChain } from "./audit-reads.ts";
import type { AuditEventFilter } from "./audit-store.ts";
import { signCheckpoint } from "./checkpoints.ts";

export interface AuditRoutesDependencies {
  readonly db: Database;
  /** The audit keys: the active one signs checkpoints, every one is published. */
  readonly keys: AuditKeyring;
  /** Who may read and verify a chain: the domain's auditors (the operator until then). */
  readonly requireAuditor: RequestHandler;
  /** Who may sign a checkpoint: the domain's auditors or admins (DESIGN.md, "Administration API"). */
  readonly requireCheckpointSigner: RequestHandler;
}

const MAX_PAGE = 1000;

function nonNegativeInteger(value: unknown, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !/^\d{1,15}$/.test(value)) {
    throw new CustosError("invalid_request", { detail: `${name} must be a whole number` });
  }
  const parsed = Number(value);
  if (parsed > max) throw new CustosError("invalid_request", { detail: `${name} must be at most ${String(max)}` });
  return parsed;
}

function chainOf(req: Request): string {
  return parseChainName(req.params.domain);
}

/** `format=json` (the default: a page as one JSON object) or `format=jsonl` (a stream of JSON Lines). */
function eventsFormatOf(req: Request): "json" | "jsonl" {
  const format = req.query.format;
  if (format === undefined || format === "json") return "json";
  if (format === "jsonl") return "jsonl";
  throw new CustosError("invalid_request", { detail: "format must be json or jsonl" });
}

const FILTER_TEXT = /^[\x21-\x7e]{1,200}$/;
const DECISIONS = ["granted", "denied", "recorded"] as const;

/** One optional filter value: printable ASCII without spaces, bounded. */
function filterText(value: unknown, name: string): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (typeof value !== "string" || !FILTER_TEXT.test(value)) throw new CustosError("invalid_request", { detail: `${name} must be 1-200 printable characters` });
  return value;
}

/** An instant (ISO 8601 with a zone), given back in the canonical form. */
function filterInstant(value: unknown, name: string): string | undefined {
  const text = filterText(value, name);
  if (text === undefined) return undefined;
  const time = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(time)) throw new CustosError("invalid_request", { detail: `${name} must be an ISO 8601 instant, e.g. 2026-11-30T07:00:00Z` });
  return new Date(time).toISOString();
}

function eventFilterOf(req: Request): AuditEventFilter {
  const decision = filterText(req.query.decision, "decision");
  if (decision !== undefined && !(DECISIONS as readonly string[]).includes(decision)) throw new CustosError("invalid_request", { detail: "decision must be granted, denied or recorded" });
  return {
    action: filterText(req.query.action, "action"),
    decision: decision as AuditEventFilter["decision"],
    actor: filterText(req.query.actor, "actor"),
    since: filterInstant(req.query.since, "since"),
    until: filterInstant(req.query.until, "until"),
  };
}

function eventsPageOf(req: Request): { chain: string; after: number; limit: number; filter: AuditEventFilter } {
  const chain = chainOf(req);
  const after = nonNegativeInteger(req.query.after, "after", 0, Number.MAX_SAFE_INTEGER);
  const limit = Math.max(1, nonNegativeInteger(req.query.limit, "limit", 100, MAX_PAGE));
  return { chain, after, limit, filter: eventFilterOf(req) };
}

export function auditRoutes(deps: AuditRoutesDependencies): RouteDefinition[] {
  const verify = (chain: string) => verifyAuditChain(deps.db, chain);
  const events = (page: { chain: string; after: number; limit: number; filter: AuditEventFilter }) => readAuditEvents(deps.db, page);
  const checkpoint = async (chain: string) => signCheckpoint(deps.db, await deps.keys.signingKey(), chain);
  /**
   * `format=jsonl`: every record after `after` (up to `limit` when given), one JSON object a
   * line, exactly the lines of a mirror segment, streamed a page at a time for log pipelines;
   * the next pull's `after` is the last line's seq. `format=json` goes on to the page reply.
   */
  async function streamEventsAsJsonLines(req: Request, res: Response, next: NextFunction): Promise<void> {
    if (eventsFormatOf(req) !== "jsonl") {
      next();
      return;
    }
    const chain = chainOf(req);
    // A log pipeline takes every line; a filter it asked for would be silently ignored.
    if (!isEmptyFilter(eventFilterOf(req))) {
      throw new CustosError("invalid_request", { detail: "filters apply to format=json pages; format=jsonl streams every record" });
    }
    const after = nonNegativeInteger(req.query.after, "after", 0, Number.MAX_SAFE_INTEGER);
    const limit = req.query.limit === undefined ? undefined : Math.max(1, nonNegativeInteger(req.query.limit, "limit", 1, Number.MAX_SAFE_INTEGER));
    const lines = auditEventLines(deps.db, { chain, after, ...(limit === undefined ? {} : { limit }) });
    // The first page is read before the status is sent: a store failure is still a problem reply.
    let first = await lines.next();
    res.status(200).setHeader("Content-Type", "application/jsonl; charset=utf-8");
    res.setHeader("Cache-Control", "no-store");
    try {
      while (first.done !== true) {
        if (!res.write(first.value)) await new Promise((resolve) => res.once("drain", resolve));
        if (res.destroyed) return;
        first = await lines.next();
      }
      res.end();
    } catch (error) {
      // Mid-stream the status is sent: a cut connection is how a reader learns the stream is short.
      res.destroy(error instanceof Error ? error : undefined);
    }
  }
  const sendPublicKeys: RequestHandler = async (_req, res) => {
    res.setHeader("Cache-Control", "public, max-age=60");
    res.json(await deps.keys.publicJwks());
  };
  return [
    {
      method: "get",
      path: "/v1/audit/keys",
      doc: {
        summary: "Every audit signing key, active and retired, as a JWK set with each key's validity interval, for offline verification (anyone)",
        security: [],
        responses: {
          "200": {
            description:
              "{ keys: [{ kty: OKP, crv: Ed25519, x, kid, alg: EdDSA, use: sig, status: active|retired, valid_from?, valid_until? }] }; " +
              "kid is the key_id checkpoints and mirror manifests carry (docs/audit-format.md)",
          },
        },
      },
      handlers: [sendPublicKeys],
    },
    {
      method: "get",
      path: "/v1/domains/:domain/audit/verify",
      doc: {
        summary: "Verify the domain's audit chain: rows checked, head, first failure (auditor)",
        responses: { "200": { description: "the verification report (ok may be false)" }, "400": PROBLEM_RESPONSE, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE },
      },
      handlers: [
        deps.requireAuditor,
        respond(verify, chainOf, json(200)),
      ],
    },
    {
      method: "get",
      path: "/v1/domains/:domain/audit/events",
      doc: {
        summary: "Page through the domain's audit events in seq order, or stream them as JSON Lines with format=jsonl (auditor)",
        parameters: [
          { name: "after", in: "query", schema: { type: "integer", minimum: 0 } },
          { name: "limit", in: "query", schema: { type: "integer", minimum: 1 }, description: `at most ${String(MAX_PAGE)} with format=json; with format=jsonl, no limit streams to the head` },
          { name: "format", in: "query", schema: { type: "string", enum: ["json", "jsonl"] } },
          { name: "action", in: "query", schema: { type: "string" }, description: "only this action (format=json)" },
          { name: "decision", in: "query", schema: { type: "string", enum: ["granted", "denied", "recorded"] } },
          { name: "actor", in: "query", schema: { type: "string" }, description: "actors containing this text" },
          { name: "since", in: "query", schema: { type: "string", format: "date-time" } },
          { name: "until", in: "query", schema: { type: "string", format: "date-time" } },
        ],
        responses: {
          "200": { description: "json: { chain, events, next_after, more } — with a filter, one request examines at most 10,000 records after `after`, so a page may be short (even empty) while more is true; jsonl (application/jsonl): one record a line, the lines of a mirror segment" },
          "400": PROBLEM_RESPONSE, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE,
        },
      },
      handlers: [
        deps.requireAuditor,
        streamEventsAsJsonLines,
        respond(events, eventsPageOf, json(200)),
      ],
    },
    {
      method: "post",
      path: "/v1/domains/:domain/audit/checkpoints",
      doc: {
        summary: "Sign the chain's current head with the audit key (auditor or admin)",
        responses: { "201": { description: "the signed checkpoint" }, "400": PROBLEM_RESPONSE, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE },
      },
      handlers: [
        deps.requireCheckpointSigner,
        respond(checkpoint, chainOf, json(201)),
      ],
    },
  ];
}
