import type { RequestHandler } from "express";
import type { AuthorizeElevatedDependencies } from "../access/elevated-action.ts";
import type { AuthenticateNodeDependencies } from "../nodes/authenticate-node.ts";
import type { NodeRepository } from "../nodes/node-repo.ts";
import { authenticatedNodeOf, authenticateNodeStep } from "../http/authenticate-steps.ts";
import { userCredentialOf } from "../http/credential-locals.ts";
import { PROBLEM_RESPONSE } from "../http/openapi.ts";
import { requestIdOf } from "../http/request-id.ts";
import type { RouteDefinition } from "../http/routes.ts";
import { json, respond, step } from "../http/steps.ts";
import { parseDomainId, parseNodeId } from "../platform/names.ts";
import { openEventStream, parseLastEventId, type EventStreamDependencies, type OpenEventStream } from "./event-streams.ts";
import { rotateEventKey, type RotateEventKeyDependencies } from "./rotate-event-key.ts";

export interface EventRoutesDependencies
  extends AuthenticateNodeDependencies, Omit<EventStreamDependencies, "nodes" | "authorizer" | "denials">, Omit<RotateEventKeyDependencies, "nodes">, AuthorizeElevatedDependencies {
  /** The node repository serves authentication, the stream's re-checks and the rotation's node list. */
  readonly nodes: NodeRepository;
  readonly requireDomainUser: RequestHandler;
}

/** The SSE framing of one event (docs/design.md, "Signed events": the contract). */
function sseEvent(sequence: number, envelope: string): string {
  return `id: ${String(sequence)}\nevent: custos-event\ndata: ${envelope}\n\n`;
}

/**
 * The most a stream may hold unsent for a node that stopped reading. A node reads its events
 * as they come; one that does not would have the server buffer every event and heartbeat for
 * it without end. Past this bound the stream is cut, and the node resumes with Last-Event-ID
 * once it reads again (the bus keeps what it missed).
 */
export const MAX_UNSENT_BYTES = 1024 * 1024;

/** What the stream writes to: the parts of a response (or socket) the SSE sink needs. */
export interface SseConnection {
  write(chunk: string): boolean;
  readonly writableLength: number;
  end(): void;
  destroy(): void;
}

/** Writes `chunk`, and cuts the connection if the client has left too much of it unread. */
export function writeOrCut(connection: SseConnection, chunk: string, maxUnsentBytes = MAX_UNSENT_BYTES): void {
  connection.write(chunk);
  if (connection.writableLength > maxUnsentBytes) connection.destroy();
}

/** The last step of the stream route: the stream itself, held open until either side ends it. */
function streamEvents(deps: EventRoutesDependencies): RequestHandler {
  return async function streamNodeEvents(req, res) {
    const start = parseLastEventId(req.get("last-event-id"));
    // Listened for before the stream opens: a client gone while it was being set up must
    // still release what the stream took (its slot, its subscription, its timer).
    const client: { gone: boolean; stream: OpenEventStream | undefined } = { gone: false, stream: undefined };
    res.on("close", () => {
      client.gone = true;
      void client.stream?.close();
    });
    client.stream = await openEventStream(deps, {
      key: authenticatedNodeOf(res),
      start,
      requestId: requestIdOf(res),
      sink: {
        open() {
          res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no" });
          // The headers go now, not with the first event: the client knows it is subscribed.
          res.flushHeaders();
        },
        event: (sequence, envelope) => { writeOrCut(res, sseEvent(sequence, envelope)); },
        heartbeat: () => { writeOrCut(res, ": heartbeat\n\n"); },
        end: () => { res.end(); },
      },
    });
    if (client.gone) await client.stream.close();
  };
}

export function eventRoutes(deps: EventRoutesDependencies): RouteDefinition[] {
  return [
    {
      method: "get",
      path: "/v1/nodes/:node_id/events",
      doc: {
        summary:
          "A node's signed events as Server-Sent Events (node bearer): each message is `id: <stream sequence>`, `event: custos-event`, " +
          "`data: <compact JWS>` (header typ custos-event+jwt, alg EdDSA, kid an event key of the domain JWKS with custos_use event; claims " +
          "iss, aud node:<id>, jti, iat, exp, type, data). `: heartbeat` comments every EVENTS_HEARTBEAT_SECONDS. Last-Event-ID resumes after " +
          "that sequence. A quarantine delivers node.quarantined and ends the stream; a decommission ends it.",
        security: [{ nodeBearer: [] }],
        parameters: [{ name: "Last-Event-ID", in: "header", required: false, schema: { type: "string", pattern: "^[0-9]{1,15}$" } }],
        responses: {
          "200": { description: "the stream", content: { "text/event-stream": { schema: { type: "string" } } } },
          "400": PROBLEM_RESPONSE, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE,
          "429": { description: "event_stream_limit: the node already holds EVENTS_MAX_STREAMS_PER_NODE streams on this replica", content: { "application/problem+json": {} } },
          "503": PROBLEM_RESPONSE,
        },
      },
      handlers: [
        // 1. the name in the path, then the bearer, the node and its state (as reads)
        step("nodeIdInPath", (req) => { parseNodeId(req.params.node_id); }),
        authenticateNodeStep(deps, "event.subscribe"),
        // 2. SpiceDB membership, a stream slot, the bus subscription; then the stream
        streamEvents(deps),
      ],
    },
    {
      method: "post",
      path: "/v1/domains/:domain/event-keys/rotate",
      doc: {
        summary:
          "Rotate the domain's event key (admin, elevated: event_key.rotate): every node is sent keys.rotated, signed by the previous key, " +
          "listing the event keys now published; the new key signs from then on, and the previous one stays published for the event lifetime",
        responses: { "200": { description: "{ kid, previous_kid }" }, "401": PROBLEM_RESPONSE, "403": PROBLEM_RESPONSE, "503": PROBLEM_RESPONSE },
      },
      handlers: [
        deps.requireDomainUser,
        respond(
          (input: Parameters<typeof rotateEventKey>[1]) => rotateEventKey(deps, input),
          (req, res) => ({ domain: parseDomainId(req.params.domain), credential: userCredentialOf(res), requestId: requestIdOf(res) }),
          json(200, ({ kid, previousKid }: Awaited<ReturnType<typeof rotateEventKey>>) => ({ kid, previous_kid: previousKid })),
          "rotateEventKey",
        ),
      ],
    },
  ];
}
