import { pino, type Logger } from "pino";
import type { LogLevel } from "./config.ts";
import { traceFields } from "./telemetry.ts";

export type { Logger };

const REDACTED = "[redacted]";

/**
 * Longer strings are cut before they are scanned or written: a log line is not the place for
 * a 64 KiB path, and every string a client can make long is then bounded before any work.
 */
export const MAX_LOGGED_STRING_CHARS = 4096;

/*
 * Values that look like credentials are scrubbed wherever they appear in a log line, not only
 * under known keys: JWTs and JWEs, node bearers (`nsk.<kid>.<secret>`), `Bearer …` values,
 * and long unbroken base64url, base64 or hex runs (NSKs, session ids, operator tokens).
 *
 * The scrubbing is a hand-written scanner, not a set of regular expressions: it visits every
 * character a bounded number of times, so its cost is linear in the (already bounded) text
 * whatever the text is. Patterns with backtracking cost quadratic time on inputs such as
 * `eyJ-eyJ-eyJ-…`, which an unauthenticated client could put in a path.
 *
 * The scanner cuts the text into words: maximal runs of the characters tokens are written
 * with (A-Z a-z 0-9 . _ ~ + / -). A word that holds a credential is replaced as a whole.
 */

function isAlphanumeric(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}

/** A-Z a-z 0-9 and `_`: what a regular expression's \w is. */
function isWordCharacter(code: number): boolean {
  return isAlphanumeric(code) || code === 0x5f;
}

/** base64url: A-Z a-z 0-9 `_` `-`. */
function isBase64UrlCharacter(code: number): boolean {
  return isWordCharacter(code) || code === 0x2d;
}

/** standard base64 without padding: A-Z a-z 0-9 `+` `/`. */
function isBase64Character(code: number): boolean {
  return isAlphanumeric(code) || code === 0x2b || code === 0x2f;
}

/**
 * Any character a token is written with: base64url, base64, `.` and `~`. Not `=`: padding
 * carries no secret, and `name=value` must stay two words.
 */
function isTokenCharacter(code: number): boolean {
  return isBase64UrlCharacter(code) || code === 0x2b || code === 0x2f || code === 0x2e || code === 0x7e;
}

/** What a regular expression's \s matches. */
function isWhitespace(code: number): boolean {
  return (
    code === 0x20 || (code >= 0x09 && code <= 0x0d) || code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff
  );
}

/** Does `word` hold `prefix` at `index`, not preceded by a word character? */
function startsWordAt(word: string, index: number, prefix: string): boolean {
  return word.startsWith(prefix, index) && (index === 0 || !isWordCharacter(word.charCodeAt(index - 1)));
}

const UUID_GROUP_LENGTHS = [8, 4, 4, 4, 12];

/** A UUID, which names requests and nodes and is not a secret: it stays readable. */
function isUuid(text: string): boolean {
  if (text.length !== 36) return false;
  let position = 0;
  for (const [group, length] of UUID_GROUP_LENGTHS.entries()) {
    if (group > 0) {
      if (text.charCodeAt(position) !== 0x2d) return false;
      position += 1;
    }
    for (let end = position + length; position < end; position += 1) {
      const code = text.charCodeAt(position) | 0x20;
      if (!((code >= 0x30 && code <= 0x39) || (code >= 0x61 && code <= 0x66))) return false;
    }
  }
  return true;
}

/** The maximal runs of characters accepted by `inRun`, as [start, end) pairs. */
function runsOf(word: string, inRun: (code: number) => boolean): [number, number][] {
  const runs: [number, number][] = [];
  let start = -1;
  for (let i = 0; i <= word.length; i += 1) {
    const inside = i < word.length && inRun(word.charCodeAt(i));
    if (inside && start === -1) start = i;
    if (!inside && start !== -1) {
      runs.push([start, i]);
      start = -1;
    }
  }
  return runs;
}

/** Long enough that a random run of this length is a key, and a readable word is not. */
const LONG_RUN_CHARS = 32;

/**
 * Does this word (a maximal run of token characters) hold a credential? Each check is one
 * pass over the word.
 */
export function wordLooksLikeCredential(word: string): boolean {
  const lastDot = word.lastIndexOf(".");
  for (let i = 0; i < word.length; i += 1) {
    // A JWT or JWE: `eyJ` (base64url of `{"`) starting a word, with a dot after it.
    if (startsWordAt(word, i, "eyJ") && lastDot > i) return true;
    // A node bearer: `nsk.<kid>.<secret>`, kid and secret non-empty.
    if (startsWordAt(word, i, "nsk.") && isNodeBearerTail(word, i + 4)) return true;
  }
  for (const [start, end] of runsOf(word, isBase64UrlCharacter)) {
    if (end - start >= LONG_RUN_CHARS && !isUuid(word.slice(start, end))) return true;
  }
  // Standard base64 (as `openssl rand -base64` prints it) with a `+` or `/` in it; not a path
  // (`/v1/…`, `a//b`), whose runs start with a slash or hold two in a row.
  for (const [start, end] of runsOf(word, isBase64Character)) {
    if (end - start < LONG_RUN_CHARS || word.charCodeAt(start) === 0x2f) continue;
    const run = word.slice(start, end);
    if ((run.includes("+") || run.includes("/")) && !run.includes("//")) return true;
  }
  return false;
}

/** After `nsk.`: one or more base64url characters, a dot, one more base64url character. */
function isNodeBearerTail(word: string, from: number): boolean {
  let i = from;
  while (i < word.length && isBase64UrlCharacter(word.charCodeAt(i))) i += 1;
  return i > from && word.charCodeAt(i) === 0x2e && i + 1 < word.length && isBase64UrlCharacter(word.charCodeAt(i + 1));
}

/** Does the word end with the auth-scheme `bearer` (any case), as a word of its own? */
function bearerSchemeAt(word: string): number | undefined {
  const start = word.length - 6;
  if (start < 0 || word.slice(start).toLowerCase() !== "bearer") return undefined;
  return start === 0 || !isWordCharacter(word.charCodeAt(start - 1)) ? start : undefined;
}

/**
 * At most MAX_LOGGED_STRING_CHARS characters. The cut never splits a token: a token cut in
 * two might leave a half too short to be recognised, so the run of token characters the cut
 * falls in is dropped whole.
 */
export function boundForLogging(text: string): string {
  if (text.length <= MAX_LOGGED_STRING_CHARS) return text;
  let cut = MAX_LOGGED_STRING_CHARS;
  while (cut > 0 && isTokenCharacter(text.charCodeAt(cut - 1))) cut -= 1;
  return `${text.slice(0, cut)}…[${String(text.length - cut)} more characters not logged]`;
}

/** The text, bounded, with every credential-looking word replaced; linear time. */
export function redactTokenLikeText(text: string): string {
  const bounded = boundForLogging(text);
  const parts: string[] = [];
  let i = 0;
  while (i < bounded.length) {
    if (!isTokenCharacter(bounded.charCodeAt(i))) {
      let end = i + 1;
      while (end < bounded.length && !isTokenCharacter(bounded.charCodeAt(end))) end += 1;
      parts.push(bounded.slice(i, end));
      i = end;
      continue;
    }
    let end = i + 1;
    while (end < bounded.length && isTokenCharacter(bounded.charCodeAt(end))) end += 1;
    const word = bounded.slice(i, end);
    const scheme = bearerSchemeAt(word);
    if (scheme !== undefined) {
      // `Bearer <credential>`: whatever follows the spaces is the credential, in any alphabet.
      let credential = end;
      while (credential < bounded.length && isWhitespace(bounded.charCodeAt(credential))) credential += 1;
      if (credential > end && credential < bounded.length) {
        let credentialEnd = credential;
        while (credentialEnd < bounded.length && !isWhitespace(bounded.charCodeAt(credentialEnd))) credentialEnd += 1;
        parts.push(word.slice(0, scheme), REDACTED);
        i = credentialEnd;
        continue;
      }
    }
    parts.push(wordLooksLikeCredential(word) ? REDACTED : word);
    i = end;
  }
  return parts.join("");
}

const SENSITIVE_KEYS = new Set([
  "authorization",
  "cookie",
  "set-cookie",
  "nsk",
  "value",
  "token",
  "id_token",
  "access_token",
  "refresh_token",
  "grant",
  "jwe",
  "password",
  "secret",
  "operator_token",
]);

/** Deep copy of a log payload with sensitive keys and token-looking strings redacted. */
export function redactLogValue(value: unknown, depth = 0): unknown {
  if (depth > 8) return REDACTED;
  if (typeof value === "string") return redactTokenLikeText(value);
  if (Array.isArray(value)) return value.map((item) => redactLogValue(item, depth + 1));
  if (value !== null && typeof value === "object") {
    if (value instanceof Error) {
      return { type: value.name, message: redactTokenLikeText(value.message) };
    }
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = SENSITIVE_KEYS.has(key.toLowerCase()) ? REDACTED : redactLogValue(item, depth + 1);
    }
    return out;
  }
  return value;
}

/** Lowercase hex of exactly `length` characters: what a trace or span id is. */
function isHexId(value: unknown, length: number): value is string {
  if (typeof value !== "string" || value.length !== length) return false;
  for (let i = 0; i < length; i += 1) {
    const code = value.charCodeAt(i);
    if (!((code >= 0x30 && code <= 0x39) || (code >= 0x61 && code <= 0x66))) return false;
  }
  return true;
}

/**
 * The log line, redacted, with its trace and span ids kept: a trace id is 32 hex characters,
 * which the scrubber would otherwise take for a key. Only well-formed ids are kept.
 */
function redactLogLine(object: Record<string, unknown>): Record<string, unknown> {
  const redacted = redactLogValue(object) as Record<string, unknown>;
  if (isHexId(object.trace_id, 32)) redacted.trace_id = object.trace_id;
  if (isHexId(object.span_id, 16)) redacted.span_id = object.span_id;
  return redacted;
}

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Where JSON lines go; standard error by default so that stdout stays for results. */
  readonly destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: "custos" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: redactLogLine,
      },
      // Every line written while a span is active names it (OpenTelemetry; nothing without an SDK).
      mixin: () => ({ ...traceFields() }),
      hooks: {
        // Messages are scrubbed as well as objects: a careless interpolation must not leak.
        logMethod(args, method) {
          const scrubbed = args.map((arg) => (typeof arg === "string" ? redactTokenLikeText(arg) : arg));
          method.apply(this, scrubbed as Parameters<typeof method>);
        },
      },
    },
    options.destination ?? pino.destination(2),
  );
}
