import type { RequestHandler } from "express";
import { PROBLEM_RESPONSE } from "../http/openapi.ts";
import type { RouteDefinition } from "../http/routes.ts";
import type { Database } from "../platform/db/database.ts";
import { CustosError } from "../platform/errors.ts";
import { parseChainName } from "../platform/names.ts";
import type { AuditSigner } from "./audit-signer.ts";
import { readRecords, streamRecordPages } from "./audit-store.ts";
import { verifyChain } from "./audit-verifier.ts";
import { createCheckpoint } from "./checkpoints.ts";

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


export function auditRoutes(deps: AuditRoutesDependencies): RouteDefinition[] {
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
        async (req, res) => {
          const chain = parseChainName(req.params.domain);
          const report = await verifyChain({ chain, records: streamRecordPages(deps.db, chain) });
          res.json(report);
        },
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
        async (req, res) => {
          const chain = parseChainName(req.params.domain);
          const after = nonNegativeInteger(req.query.after, "after", 0, Number.MAX_SAFE_INTEGER);
          const limit = Math.max(1, nonNegativeInteger(req.query.limit, "limit", 100, MAX_PAGE));
          const events = await readRecords(deps.db, chain, after, limit);
          res.json({ chain, events, next_after: events.at(-1)?.seq ?? after });
        },
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
        async (req, res) => {
          const chain = parseChainName(req.params.domain);
          res.status(201).json(await createCheckpoint(deps.db, deps.signer, chain));
        },
      ],
    },
  ];
}
