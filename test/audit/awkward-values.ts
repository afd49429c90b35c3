/**
 * Seeded generators of awkward JSON values for the canonicalisation tests: strings with
 * control characters, quotes, backslashes, non-ASCII and astral characters; numbers whose
 * shortest form is unusual; keys that sort differently by UTF-16 code units and by UTF-8 bytes.
 */

/** A small deterministic PRNG (mulberry32), so a failing case can be replayed. */
export function randomSource(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  "a", "z", "A", "0", " ", "\"", "\\", "/", "\u0000", "\u0007", "\b", "\t", "\n", "\f", "\r", "\u001b", "\u001f", "\u007f",
  "é", "ü", "ß", "✓", "\u2028", "\u2029", "\uFFFF", "\uFEFF", "\u{1F600}", "\u{10FFFF}", "𝄞", "日本", "\\u0041", "\\ud800",
];

export const AWKWARD_NUMBERS = [0, -0, 1, -1, 0.1, 0.2 + 0.1, 1e21, 1e-7, 123456789012345680000, 5e-324, 1.7976931348623157e308, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 100, 1.5, -2.5e-10];

/** Keys whose UTF-16 order differs from their code point (and UTF-8 byte) order, and some plain ones. */
export const AWKWARD_KEYS = ["\u{1F600}", "\uFFFF", "\uE000", "a", "b", "aa", "é", "A", "_", "10", "2", "", "key with \"quote\"", "__proto__", "toJSON"];

export function awkwardString(random: () => number, maxPieces = 6): string {
  let text = "";
  const count = Math.floor(random() * (maxPieces + 1));
  for (let index = 0; index < count; index += 1) text += PIECES[Math.floor(random() * PIECES.length)] as string;
  return text;
}

export function awkwardValue(random: () => number, depth = 0): unknown {
  const pick = Math.floor(random() * (depth >= 3 ? 5 : 7));
  switch (pick) {
    case 0: return awkwardString(random);
    case 1: return AWKWARD_NUMBERS[Math.floor(random() * AWKWARD_NUMBERS.length)];
    case 2: return Math.floor(random() * 2_000_000) - 1_000_000;
    case 3: return random() < 0.5;
    case 4: return null;
    case 5: return Array.from({ length: Math.floor(random() * 4) }, () => awkwardValue(random, depth + 1));
    default: return awkwardObject(random, depth + 1);
  }
}

export function awkwardObject(random: () => number, depth = 0): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  const count = Math.floor(random() * 5);
  for (let index = 0; index < count; index += 1) {
    const key = random() < 0.6 ? (AWKWARD_KEYS[Math.floor(random() * AWKWARD_KEYS.length)] as string) : awkwardString(random, 3);
    object[key] = awkwardValue(random, depth);
  }
  return object;
}

/**
 * The text PostgreSQL writes for a jsonb value (jsonb_out): object keys ordered by length,
 * then bytewise, ", " and ": " between members, strings escaped as JSON.stringify escapes
 * them. Numbers are written as JavaScript does (jsonb would keep e.g. 1.0; those take the
 * parsing path anyway).
 */
export function jsonbText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(jsonbText).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort((a, b) => {
      const [x, y] = [Buffer.from(a), Buffer.from(b)];
      return x.length - y.length || Buffer.compare(x, y);
    });
    return `{${keys.map((key) => `${JSON.stringify(key)}: ${jsonbText((value as Record<string, unknown>)[key])}`).join(", ")}}`;
  }
  return JSON.stringify(value);
}
