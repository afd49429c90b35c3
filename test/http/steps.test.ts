import type { Request, Response } from "express";
import { describe, expect, it } from "vitest";
import { respond } from "../../src/http/steps.ts";

/** The little of a Response that respond() uses, recording what was sent. */
function recordingResponse() {
  const sent: { status?: number; body?: unknown } = {};
  const res = {
    status(code: number) { sent.status = code; return res; },
    json(body: unknown) { sent.body = body; return res; },
  };
  return { res: res as unknown as Response, sent };
}

describe("respond", () => {
  const req = { params: { domain: "acme" } } as unknown as Request;

  it("hands the verb the plain input read from the request, and sends its result with the status", async () => {
    const { res, sent } = recordingResponse();
    const step = respond(201, (request) => String(request.params.domain), (domain: string) => Promise.resolve({ created: domain }));
    await step(req, res, () => undefined);
    expect(sent).toEqual({ status: 201, body: { created: "acme" } });
  });

  it("takes the status from the result, and sends what bodyOf makes of it", async () => {
    const { res, sent } = recordingResponse();
    const step = respond(
      (result: { created: boolean }) => (result.created ? 201 : 200),
      () => undefined,
      () => Promise.resolve({ created: false, secret: "never sent" }),
      (result) => ({ created: result.created }),
    );
    await step(req, res, () => undefined);
    expect(sent).toEqual({ status: 200, body: { created: false } });
  });

  it("is named after its verb, so a route's step list reads as what it does", () => {
    function readAuditEvents(): Promise<number> { return Promise.resolve(1); }
    expect(respond(200, () => undefined, readAuditEvents).name).toBe("respond(readAuditEvents)");
  });
});
