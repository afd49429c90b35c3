import type { Request, RequestHandler, Response } from "express";
import { CustosError } from "../platform/errors.ts";

/**
 * Custos's own JSON body reader, in place of body-parser: body-parser answers an oversize or
 * broken body only after reading the rest of it to the end, so a client streaming an endless
 * chunked body kept the server reading. Here a body over the cap is refused at the byte that
 * crosses it, and the connection is closed after the answer: the rest is never read.
 */

export function payloadTooLarge(maxBytes: number): CustosError {
  return new CustosError("payload_too_large", { detail: `request bodies are limited to ${String(maxBytes / 1024)} KiB` });
}

/**
 * Marks the response so that Node closes the connection once it is written (and never reads
 * the rest of the request body to keep the connection alive).
 */
export function closeAfterResponse(res: Response): void {
  res.setHeader("Connection", "close");
}

/** application/json and application/<anything>+json, whatever the case and parameters. */
export function isJsonMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const mediaType = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  if (mediaType === "application/json") return true;
  const subtype = mediaType.startsWith("application/") ? mediaType.slice("application/".length) : "";
  return subtype.length > "+json".length && subtype.endsWith("+json") && !subtype.includes("/");
}

/** The charset parameter of a Content-Type, lowercased and unquoted, if there is one. */
export function charsetOf(contentType: string): string | undefined {
  for (const parameter of contentType.split(";").slice(1)) {
    const separator = parameter.indexOf("=");
    if (separator === -1 || parameter.slice(0, separator).trim().toLowerCase() !== "charset") continue;
    const value = parameter.slice(separator + 1).trim().toLowerCase();
    return value.startsWith('"') && value.endsWith('"') && value.length >= 2 ? value.slice(1, -1) : value;
  }
  return undefined;
}

/** RFC 9112 §6.3: a request has a body when it says how it is framed. */
function hasBody(req: Request): boolean {
  return req.headers["transfer-encoding"] !== undefined || req.headers["content-length"] !== undefined;
}

/** `Content-Length: 0` and no other framing: nothing to read, nothing left unread. */
function isDeclaredEmpty(req: Request): boolean {
  return req.headers["transfer-encoding"] === undefined && req.headers["content-length"]?.trim() === "0";
}

function malformedBody(detail: string): CustosError {
  return new CustosError("malformed_body", { detail });
}

/**
 * The value of a JSON body: UTF-8 (a byte sequence that is not is refused, never replaced),
 * an object or an array at the top (strict), and `{}` for an empty body as before.
 */
export function parseJsonBody(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw malformedBody("the body is not UTF-8");
  }
  const trimmed = text.trim();
  if (trimmed === "") return {};
  if (!trimmed.startsWith("{") && !trimmed.startsWith("[")) throw malformedBody("the body must be a JSON object or array");
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    throw malformedBody("the body could not be parsed as JSON");
  }
}

/** Reads a JSON request body into req.body; other media types are left unread, and the connection closed after the answer. */
export function jsonBody(maxBytes: number): RequestHandler {
  return (req, res, next) => {
    if (!hasBody(req)) {
      next();
      return;
    }
    const contentType = req.get("content-type");
    if (contentType === undefined || !isJsonMediaType(contentType)) {
      if (isDeclaredEmpty(req)) {
        next();
        return;
      }
      // No route reads any other body. Left unread, Node would read it to its end after the
      // answer to keep the connection alive, however long it is: close instead.
      closeAfterResponse(res);
      next();
      return;
    }
    const charset = charsetOf(contentType);
    if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
      closeAfterResponse(res);
      next(new CustosError("unsupported_media_type", { detail: "the body must be UTF-8 JSON" }));
      return;
    }
    // Compressed bodies are refused rather than inflated: nothing to bomb, nothing to bound twice.
    const contentEncoding = (req.get("content-encoding") ?? "identity").trim().toLowerCase();
    if (contentEncoding !== "identity") {
      closeAfterResponse(res);
      next(new CustosError("unsupported_media_type", { detail: "the body must not be compressed (Content-Encoding)" }));
      return;
    }

    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const settle = (error?: CustosError) => {
      if (settled) return;
      settled = true;
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onFailure);
      req.off("close", onFailure);
      next(error);
    };
    function onData(chunk: Buffer): void {
      received += chunk.length;
      if (received > maxBytes) {
        // Stop here: no more of the body is read, and the connection closes after the 413.
        req.pause();
        closeAfterResponse(res);
        settle(payloadTooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    }
    function onEnd(): void {
      try {
        req.body = parseJsonBody(Buffer.concat(chunks, received));
      } catch (error) {
        settle(error instanceof CustosError ? error : malformedBody("the body could not be parsed as JSON"));
        return;
      }
      settle();
    }
    function onFailure(): void {
      settle(new CustosError("invalid_request", { detail: "the request body could not be read" }));
    }
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onFailure);
    req.on("close", onFailure);
  };
}
