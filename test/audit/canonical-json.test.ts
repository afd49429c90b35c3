import canonicalize from "canonicalize";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/audit/canonical-json.ts";
import { AWKWARD_KEYS, AWKWARD_NUMBERS, awkwardObject, awkwardString, awkwardValue, randomSource } from "./awkward-values.ts";

type Outcome = { text: string | undefined } | { throws: string };

/** What a canonicaliser answers: its text, or the message of what it throws. */
function outcome(canonicaliser: (value: unknown) => string | undefined, value: unknown): Outcome {
  try {
    return { text: canonicaliser(value) };
  } catch (error) {
    return { throws: error instanceof Error ? error.message : String(error) };
  }
}

const reference = (value: unknown): Outcome => outcome(canonicalize, value);
const shortcut = (value: unknown): Outcome => outcome(canonicalJson, value);

describe("canonicalJson", () => {
  it("writes the general canonicaliser's text for thousands of awkward parsed-JSON values", () => {
    const random = randomSource(18);
    for (let index = 0; index < 5000; index += 1) {
      const value: unknown = JSON.parse(JSON.stringify(index % 2 === 0 ? awkwardObject(random) : awkwardValue(random)));
      expect(shortcut(value)).toEqual(reference(value));
    }
  });

  it.each([
    ["numbers in their shortest form (1e21, -0, 0.1, 5e-324)", AWKWARD_NUMBERS],
    ["keys sorted by UTF-16 code units, not by bytes", Object.fromEntries(AWKWARD_KEYS.map((key, index) => [key, index]))],
    ["escapes: control characters, quotes, backslashes, U+2028", { s: "\u0000\u0007\b\t\n\f\r\u001f\"\\/\u2028\u007f" }],
    ["astral and non-ASCII characters", { "\u{1F600}": "𝄞 日本 é", nested: [{ "\uFFFF": ["\u{10FFFF}"] }] }],
    ["a string spelling an escape", { s: "\\ud800 \\u0041" }],
    ["lone surrogates JSON.parse wrote from escapes", JSON.parse('{"\\ud800": "\\udfff"}') as unknown],
  ])("matches the general canonicaliser on %s", (_label, value) => {
    expect(shortcut(value)).toEqual(reference(value));
  });

  it.each([
    ["a lone surrogate in a string", { s: "a\ud800b" }],
    ["a lone surrogate in a key", { "\udc00": 1 }],
    ["a non-finite number", { n: Number.POSITIVE_INFINITY }],
    ["NaN", [Number.NaN]],
  ])("throws where the general canonicaliser throws: %s", (_label, value) => {
    expect(reference(value)).toHaveProperty("throws");
    expect(shortcut(value)).toEqual(reference(value));
  });

  it.each([
    ["an undefined member", { a: undefined, b: 1 }],
    ["an undefined array element and a hole", [undefined, 1, , 2]], // eslint-disable-line no-sparse-arrays
    ["a Date (toJSON)", { at: new Date(0) }],
    ["an object with its own toJSON", { inner: { toJSON: () => "replaced" } }],
    ["a class instance", { map: new Map([["a", 1]]) }],
    ["a function member", { f: () => 1, g: 2 }],
    ["a null-prototype object", Object.assign(Object.create(null) as Record<string, unknown>, { b: 1, a: 2 })],
  ])("gives values that are not parsed JSON to the general canonicaliser: %s", (_label, value) => {
    expect(shortcut(value)).toEqual(reference(value));
  });

  it("throws the general canonicaliser's error on a cycle (not a stack overflow)", () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = [cyclic];
    expect(reference(cyclic)).toEqual({ throws: "Circular reference detected" });
    expect(shortcut(cyclic)).toEqual(reference(cyclic));
  });

  it("writes deep nesting the same way", () => {
    let deep: unknown = awkwardString(randomSource(1));
    for (let level = 0; level < 200; level += 1) deep = level % 2 === 0 ? [deep] : { k: deep };
    expect(shortcut(deep)).toEqual(reference(deep));
  });
});
