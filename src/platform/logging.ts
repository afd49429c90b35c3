import { pino, type Logger } from "pino";
import type { LogLevel } from "./config.ts";

export type { Logger };

const REDACTED = "[redacted]";

/**
 * Values that look like credentials are scrubbed wherever they appear in a log line, not only
 * under known keys: JWTs and JWEs, node bearers (`nsk.<kid>.<secret>`), `Bearer …` headers,
 * and long unbroken base64url / hex runs (NSKs, session ids, operator tokens).
 */
const TOKEN_PATTERNS: readonly RegExp[] = [
  /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_.-]*/g,
  /\bnsk\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g,
  /\bBearer\s+\S+/gi,
  // Long runs, except UUIDs (request and node ids are not secrets and must stay readable).
  /(?<![A-Za-z0-9_-])(?![0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![A-Za-z0-9_-]))[A-Za-z0-9_-]{32,}/g,
];

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

export function redactTokenLikeText(text: string): string {
  let result = text;
  for (const pattern of TOKEN_PATTERNS) result = result.replace(pattern, REDACTED);
  return result;
}

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
        log: (object) => redactLogValue(object) as Record<string, unknown>,
      },
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
