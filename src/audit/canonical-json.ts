import canonicalize from "canonicalize";

/**
 * RFC 8785 (JCS) text of a value, written the way `canonicalize` writes it but without the
 * checks that values parsed from JSON never need, which cost most of its time: a cycle guard
 * (a Set per call), `toJSON`, and a lone-surrogate scan of every string in JavaScript.
 *
 * The shortcut covers plain JSON shapes only. Anything else (undefined, functions, symbols,
 * bigints, non-finite numbers, class instances, `toJSON`, nesting deeper than MAX_DEPTH, which
 * covers cycles, or a string holding a lone surrogate) goes to `canonicalize` itself, so the
 * result, or the error thrown, is always the general canonicaliser's.
 */
export function canonicalJson(value: unknown): string | undefined {
  const text = plainJson(value, 0);
  // JSON.stringify writes a lone surrogate as a \ud… escape where canonicalize throws. The
  // test also matches an escaped backslash followed by "ud": those take the general path too,
  // which writes the same text.
  if (text === undefined || text.includes("\\ud")) return canonicalize(value);
  return text;
}

/** Deeper than this, the general canonicaliser decides (it detects cycles). */
const MAX_DEPTH = 64;

/** JCS text of a plain JSON value, or undefined for anything the shortcut does not cover. */
function plainJson(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      // ECMAScript's shortest round-trip form is JCS's number form; -0 is written 0.
      return Number.isFinite(value) ? JSON.stringify(value) : undefined;
    case "boolean":
      return value ? "true" : "false";
    case "object":
      break;
    default:
      return undefined;
  }
  if (value === null) return "null";
  if (depth >= MAX_DEPTH) return undefined;
  if (Array.isArray(value)) return plainArray(value, depth);
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return undefined;
  const object = value as Record<string, unknown>;
  if (typeof object.toJSON === "function") return undefined;
  // The default sort compares UTF-16 code units, the order JCS prescribes.
  const keys = Object.keys(object).sort();
  let text = "{";
  for (let index = 0; index < keys.length; index += 1) {
    const key = keys[index] as string;
    const member = plainJson(object[key], depth + 1);
    if (member === undefined) return undefined;
    text += `${index === 0 ? "" : ","}${JSON.stringify(key)}:${member}`;
  }
  return `${text}}`;
}

function plainArray(array: readonly unknown[], depth: number): string | undefined {
  let text = "[";
  for (let index = 0; index < array.length; index += 1) {
    // A hole or an undefined element: canonicalize writes those its own way.
    const element = plainJson(array[index], depth + 1);
    if (element === undefined) return undefined;
    text += `${index === 0 ? "" : ","}${element}`;
  }
  return `${text}]`;
}
