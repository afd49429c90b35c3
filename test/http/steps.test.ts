import type { Request, Response } from "express";
import { describe, expect, it } from "vitest";
import { json, respond } from "../../src/http/steps.ts";

/** The little of a Response that respond() uses, recording what was sent. */
function recordingResponse() {
  const sent: { status?: number; body?: unknown; headers: Record<string, string> } = { headers: {} };
  const res = {
    status(code: number) { sent.status = code; return res; },
    json(body: unknown) { sent.body = body; return res; },
    end() { return res; },
    setHeader(name: string, value: string) { sent.headers[name] = value; return res; },
  };
  return { res: res as unknown as Response, sent };
}

describe("respond", () => {
  const req = { params: { domain: "acme" } } as unknown as Request;

  it("hands the verb the plain input read from the request, and sends its result with the status", async () => {
    const { res, sent } = recordingResponse();
    const step = respond((domain: string) => Promise.resolve({ created: domain }), (request) => String(request.params.domain), json(201));
    await step(req, res, () => undefined);
    expect(sent).toEqual({ status: 201, body: { created: "acme" }, headers: {} });
  });

  it("takes the status from the result, and sends what bodyOf makes of it", async () => {
    const { res, sent } = recordingResponse();
    const step = respond(
      () => Promise.resolve({ created: false, secret: "never sent" }),
      () => undefined,
      json((result: { created: boolean }) => (result.created ? 201 : 200), (result) => ({ created: result.created })),
    );
    await step(req, res, () => undefined);
    expect(sent).toEqual({ status: 200, body: { created: false }, headers: {} });
  });

  it("is named after its verb, so a route's step list reads as what it does", () => {
    function readAuditEvents(): Promise<number> { return Promise.resolve(1); }
    expect(respond(readAuditEvents, () => undefined, json(200)).name).toBe("readAuditEvents");
  });
});
