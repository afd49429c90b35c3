import type { Request, RequestHandler } from "express";
import { PROBLEM_RESPONSE } from "../http/openapi.ts";
import type { RouteDefinition } from "../http/routes.ts";
import { json, respond } from "../http/steps.ts";
import type { Database } from "../platform/db/database.ts";
import { CustosError } from "../platform/errors.ts";
import { parseChainName } from "../platform/names.ts";
import type { AuditSigner } from "./audit-signer.ts";
import { readAuditEvents, verifyAuditChain } from "./audit-reads.ts";
import { signCheckpoint } from "./checkpoints.ts";

export interface AuditRoutesDependencies {
  readonly db: Database;
  readonly signer: AuditSigner;
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

function eventsPageOf(req: Request): { chain: string; after: number; limit: number } {
  const chain = chainOf(req);
  const after = nonNegativeInteger(req.query.after, "after", 0, Number.MAX_SAFE_INTEGER);
  const limit = Math.max(1, nonNegativeInteger(req.query.limit, "limit", 100, MAX_PAGE));
  return { chain, after, limit };
}

export function auditRoutes(deps: AuditRoutesDependencies): RouteDefinition[] {
  const verify = (chain: string) => verifyAuditChain(deps.db, chain);
  const events = (page: { chain: string; after: number; limit: number }) => readAuditEvents(deps.db, page);
  const checkpoint = (chain: string) => signCheckpoint(deps.db, deps.signer, chain);
  return [
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
        summary: "Page through the domain's audit events in seq order (auditor)",
        parameters: [
          { name: "after", in: "query", schema: { type: "integer", minimum: 0 } },
          { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: MAX_PAGE } },
        ],
        responses: { "200": { description: "events and the cursor for the next page" }, "400": PROBLEM_RESPONSE, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE },
      },
      handlers: [
        deps.requireAuditor,
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
