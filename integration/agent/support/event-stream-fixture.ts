import { generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { CompactSign } from "jose";
import type { EventPublicJwk } from "../../../src/agent/event-envelope.ts";

/**
 * A front for a real Custos that serves the node event contract (docs/design.md, "Node
 * agent") itself: the agent's base URL is this fixture's. Everything but two routes is
 * proxied unchanged to the real Custos (secret reads, NSK rotation), so the agent's reads and
 * rotations are real; the fixture answers
 *
 *   GET /v1/domains/{d}/jwks.json   the real JWK set plus this fixture's event keys (custos_use "event")
 *   GET /v1/nodes/{id}/events       an SSE stream of what the test sends: `id:` sequence,
 *                                   `event: custos-event`, `data: <JWS>`, heartbeats, Last-Event-ID
 *
 * The test signs envelopes with jose under a test event key, and can sign anything the agent
 * must refuse: forged, replayed, stale, expired, another key, another domain, another node,
 * unsigned (alg none) and non-EdDSA.
 *
 * Once Custos serves its own stream, this fixture becomes the "proxy in front of the SSE
 * stream" of issue 19 by changing `events` alone: open the real stream with the node's
 * Authorization and Last-Event-ID, parse it with SseParser, and write each message on (as
 * is, rewritten, or twice), while `send`/`resend` keep injecting into the same response, and
 * `jwks` stops adding test keys. The tests only ever talk to `send`, `resend` and `connections`.
 */

export interface TestEventKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly jwk: EventPublicJwk;
}

export function newTestEventKey(kid = `evt-${randomBytes(6).toString("base64url")}`): TestEventKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const { x } = publicKey.export({ format: "jwk" });
  if (x === undefined) throw new Error("an Ed25519 JWK has x");
  return { kid, privateKey, jwk: { kty: "OKP", crv: "Ed25519", x, kid, alg: "EdDSA", use: "sig", custos_use: "event" } };
}

export interface EventClaims {
  readonly domain: string;
  readonly nodeId: string;
  readonly type: string;
  readonly data: Record<string, unknown>;
  /** Overrides, for envelopes the agent must refuse. */
  readonly iss?: string;
  readonly aud?: string;
  readonly jti?: string;
  readonly iat?: number;
  readonly exp?: number;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function claimsOf(event: EventClaims): Record<string, unknown> {
  const iat = event.iat ?? nowSeconds();
  return {
    iss: event.iss ?? `urn:custos:domain:${event.domain}`,
    aud: event.aud ?? `node:${event.nodeId}`,
    jti: event.jti ?? randomBytes(16).toString("base64url"),
    iat,
    exp: event.exp ?? iat + 60,
    type: event.type,
    data: event.data,
  };
}

/** An envelope as the contract has it, signed with jose by `key`. */
export function signEvent(key: TestEventKey, event: EventClaims): Promise<string> {
  return new CompactSign(Buffer.from(JSON.stringify(claimsOf(event))))
    .setProtectedHeader({ alg: "EdDSA", typ: "custos-event+jwt", kid: key.kid })
    .sign(key.privateKey);
}

/** Unsigned: `alg: none`, an empty signature, as an attacker without a key would send. */
export function unsignedEvent(kid: string, event: EventClaims): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none", typ: "custos-event+jwt", kid })}.${part(claimsOf(event))}.`;
}

/** Signed with ES256 under the pinned kid: a correct signature with the wrong algorithm. */
export function es256Event(kid: string, event: EventClaims): Promise<string> {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return new CompactSign(Buffer.from(JSON.stringify(claimsOf(event))))
    .setProtectedHeader({ alg: "ES256", typ: "custos-event+jwt", kid })
    .sign(privateKey);
}

/** The same envelope with its claims replaced but the original signature kept. */
export function forgedEvent(signed: string, event: EventClaims): string {
  const [header, , signature] = signed.split(".");
  return `${header ?? ""}.${Buffer.from(JSON.stringify(claimsOf(event))).toString("base64url")}.${signature ?? ""}`;
}

interface NodeStream {
  /** Every message sent so far, kept (as the server retains them) for Last-Event-ID resumption. */
  readonly retained: { readonly id: number; readonly jws: string }[];
  readonly open: Set<ServerResponse>;
  /** The Last-Event-ID of each connection, in order (undefined: none sent). */
  readonly resumedFrom: (string | undefined)[];
}

/**
 * How the fixture relays Custos's own stream, when it does: each message as it is, each twice
 * (a proxy replaying what it saw), or with the claims rewritten under the original signature.
 */
export type RelayMode = "as-is" | "twice" | "tampered";

export interface EventStreamFixture {
  readonly url: string;
  /**
   * Undefined (the default): the fixture serves its own stream and test keys. Set: the node's
   * stream is the real `GET /v1/nodes/{id}/events`, relayed this way, and the JWKS is the real one.
   */
  relay: RelayMode | undefined;
  /** The event keys the JWKS publishes now (the first is the signing key by default). */
  publishedKeys: TestEventKey[];
  /** Sends one envelope to the node's open streams (and retains it); resolves with its sequence. */
  send(nodeId: string, jws: string): number;
  /** Sends a sequence already sent again, with the same id (a replaying proxy). */
  resend(nodeId: string, id: number): void;
  /** The Last-Event-ID of each connection the node made. */
  connections(nodeId: string): readonly (string | undefined)[];
  /** Resolves once the node has made `count` connections. */
  waitForConnections(nodeId: string, count: number): Promise<void>;
  /** Ends the node's open streams (as a quarantine or a restart of Custos would). */
  endStreams(nodeId: string): void;
  close(): Promise<void>;
}

export async function startEventStreamFixture(options: { readonly target: string; readonly heartbeatMs?: number }): Promise<EventStreamFixture> {
  const streams = new Map<string, NodeStream>();
  const waiters = new Set<() => void>();
  let sequence = 0;
  const streamOf = (nodeId: string): NodeStream => {
    let stream = streams.get(nodeId);
    if (stream === undefined) {
      stream = { retained: [], open: new Set(), resumedFrom: [] };
      streams.set(nodeId, stream);
    }
    return stream;
  };
  const message = (id: number, jws: string) => `id: ${String(id)}\nevent: custos-event\ndata: ${jws}\n\n`;

  const fixture: EventStreamFixture = {
    url: "",
    relay: undefined,
    publishedKeys: [newTestEventKey()],
    send(nodeId, jws) {
      sequence += 1;
      const stream = streamOf(nodeId);
      stream.retained.push({ id: sequence, jws });
      for (const response of stream.open) response.write(message(sequence, jws));
      return sequence;
    },
    resend(nodeId, id) {
      const stream = streamOf(nodeId);
      const sent = stream.retained.find((entry) => entry.id === id);
      if (sent === undefined) throw new Error(`no message ${String(id)} was sent to ${nodeId}`);
      for (const response of stream.open) response.write(message(sent.id, sent.jws));
    },
    connections: (nodeId) => [...streamOf(nodeId).resumedFrom],
    waitForConnections(nodeId, count) {
      return new Promise((resolve) => {
        const check = () => {
          if (streamOf(nodeId).resumedFrom.length >= count) {
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        check();
      });
    },
    endStreams(nodeId) {
      for (const response of streamOf(nodeId).open) response.end();
    },
    close: () => Promise.resolve(),
  };

  async function proxy(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const name of ["authorization", "content-type", "accept"]) {
      const value = request.headers[name];
      if (typeof value === "string") headers[name] = value;
    }
    const upstream = await fetch(`${options.target}${request.url ?? "/"}`, {
      method: request.method ?? "GET",
      headers,
      ...(chunks.length === 0 ? {} : { body: Buffer.concat(chunks) }),
    });
    const body = Buffer.from(await upstream.arrayBuffer());
    const forwarded: Record<string, string> = {};
    upstream.headers.forEach((value, name) => {
      if (!["content-length", "content-encoding", "transfer-encoding", "connection"].includes(name)) forwarded[name] = value;
    });
    response.writeHead(upstream.status, forwarded).end(body);
  }

  async function jwks(domain: string, response: ServerResponse): Promise<void> {
    const upstream = await fetch(`${options.target}/v1/domains/${domain}/jwks.json`);
    const real = upstream.status === 200 ? ((await upstream.json()) as { keys: Record<string, unknown>[] }).keys : [];
    const keys = [...real.map((key) => ({ custos_use: "grant", ...key })), ...fixture.publishedKeys.map((key) => key.jwk)];
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
  }

  /** What a relaying proxy writes for one message of the real stream. */
  function relayed(message: string, mode: RelayMode): string[] {
    if (mode === "as-is" || !message.includes("\ndata: ")) return [message];
    if (mode === "twice") return [message, message];
    return [message.replace(/^data: ([^.\n]+)\.([^.\n]+)\.([^.\n]+)$/m, (_, header: string, payload: string, signature: string) => {
      const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
      const rewritten = Buffer.from(JSON.stringify({ ...claims, type: "secret.revoked" })).toString("base64url");
      return `data: ${header}.${rewritten}.${signature}`;
    })];
  }

  async function relayRealStream(nodeId: string, mode: RelayMode, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const lastEventId = typeof request.headers["last-event-id"] === "string" ? request.headers["last-event-id"] : undefined;
    const aborted = new AbortController();
    response.on("close", () => { aborted.abort(); });
    const upstream = await fetch(`${options.target}${request.url ?? "/"}`, {
      headers: { authorization: request.headers.authorization ?? "", ...(lastEventId === undefined ? {} : { "last-event-id": lastEventId }) },
      signal: aborted.signal,
    });
    response.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "text/plain", "cache-control": "no-store" });
    if (upstream.status !== 200 || upstream.body === null) {
      response.end(await upstream.text());
      return;
    }
    streamOf(nodeId).resumedFrom.push(lastEventId);
    for (const waiter of [...waiters]) waiter();
    const decoder = new TextDecoder();
    let buffered = "";
    try {
      for await (const chunk of upstream.body as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        for (let end = buffered.indexOf("\n\n"); end >= 0; end = buffered.indexOf("\n\n")) {
          for (const out of relayed(buffered.slice(0, end + 2), mode)) response.write(out);
          buffered = buffered.slice(end + 2);
        }
      }
    } catch {
      // The agent hung up (the abort above) or Custos ended the stream mid-message.
    }
    response.end();
  }

  function events(nodeId: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (fixture.relay !== undefined) return relayRealStream(nodeId, fixture.relay, request, response);
    const stream = streamOf(nodeId);
    const lastEventId = typeof request.headers["last-event-id"] === "string" ? request.headers["last-event-id"] : undefined;
    stream.resumedFrom.push(lastEventId);
    response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
    response.write(": connected\n\n");
    if (lastEventId !== undefined) {
      for (const entry of stream.retained) if (entry.id > Number(lastEventId)) response.write(message(entry.id, entry.jws));
    }
    stream.open.add(response);
    const heartbeat = setInterval(() => { response.write(": heartbeat\n\n"); }, options.heartbeatMs ?? 15_000);
    response.on("close", () => {
      clearInterval(heartbeat);
      stream.open.delete(response);
    });
    for (const waiter of [...waiters]) waiter();
    return Promise.resolve();
  }

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://fixture");
    const jwksPath = /^\/v1\/domains\/([a-z0-9-]+)\/jwks\.json$/.exec(url.pathname);
    const eventsPath = /^\/v1\/nodes\/([0-9a-f-]{36})\/events$/.exec(url.pathname);
    const handled =
      request.method === "GET" && jwksPath?.[1] !== undefined && fixture.relay === undefined ? jwks(jwksPath[1], response)
      : request.method === "GET" && eventsPath?.[1] !== undefined ? events(eventsPath[1], request, response)
      : proxy(request, response);
    handled.catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(502, { "content-type": "text/plain" });
      response.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fixture, {
    url: `http://127.0.0.1:${String(port)}`,
    close: () => new Promise<void>((resolve) => {
      for (const stream of streams.values()) for (const response of stream.open) response.destroy();
      server.close(() => { resolve(); });
    }),
  });
}
