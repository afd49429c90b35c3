import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { boundForLogging, MAX_LOGGED_STRING_CHARS, redactTokenLikeText } from "../../src/platform/logging.ts";

/*
 * Issue 1: every regular expression in src/ runs in linear time, proved by its shape rather
 * than by timing it. JavaScript's engine backtracks, so a pattern costs more than linear time
 * only when it can match the same characters in more than one way: a quantifier inside a
 * repeated group, two variable quantifiers competing for the same characters, or, for a
 * search that may start anywhere, a variable run that something after it can still reject
 * (`eyJ[…]*\.` tried from every `eyJ` of `eyJ-eyJ-…`). The checker below refuses those
 * shapes, and every literal in src/ must pass it; the redaction scanner uses no pattern at all.
 */

// ---- character sets, over ASCII, with one bit for "anything beyond ASCII" ----

interface CharSet {
  readonly ascii: boolean[];
  nonAscii: boolean;
}

function emptySet(): CharSet {
  return { ascii: Array.from({ length: 128 }, () => false), nonAscii: false };
}
function fullSet(): CharSet {
  return { ascii: Array.from({ length: 128 }, () => true), nonAscii: true };
}
function addRange(set: CharSet, from: number, to: number): void {
  for (let code = from; code <= to; code += 1) {
    if (code < 128) set.ascii[code] = true;
    else set.nonAscii = true;
  }
}
function union(target: CharSet, other: CharSet): void {
  for (let code = 0; code < 128; code += 1) if (other.ascii[code] === true) target.ascii[code] = true;
  target.nonAscii ||= other.nonAscii;
}
function overlaps(a: CharSet, b: CharSet): boolean {
  return (a.nonAscii && b.nonAscii) || a.ascii.some((inA, code) => inA && b.ascii[code] === true);
}
function complement(set: CharSet): CharSet {
  return { ascii: set.ascii.map((inSet) => !inSet), nonAscii: true };
}
function foldCase(set: CharSet): void {
  for (let code = 0x41; code <= 0x5a; code += 1) {
    if (set.ascii[code] === true || set.ascii[code + 0x20] === true) set.ascii[code] = set.ascii[code + 0x20] = true;
  }
}

// ---- a parser for the regular expression syntax src/ uses ----

interface Quantifier {
  readonly min: number;
  readonly max: number; // Infinity for *, + and {n,}
  /** Index in the source just after the quantifier. */
  readonly end: number;
}
type Node =
  | { readonly kind: "chars"; readonly set: CharSet; quantifier?: Quantifier }
  | { readonly kind: "assertion" }
  | { readonly kind: "group"; readonly alternatives: Node[][]; readonly lookaround: boolean; quantifier?: Quantifier };

class PatternError extends Error {}

function parsePattern(source: string, flags: string): Node[][] {
  let position = 0;
  const ignoreCase = flags.includes("i");
  const peek = () => source.charAt(position);

  function escapeSet(): CharSet {
    const letter = source.charAt(position);
    position += 1;
    const set = emptySet();
    switch (letter) {
      case "d": addRange(set, 0x30, 0x39); return set;
      case "D": addRange(set, 0x30, 0x39); return complement(set);
      case "w": addRange(set, 0x30, 0x39); addRange(set, 0x41, 0x5a); addRange(set, 0x61, 0x7a); addRange(set, 0x5f, 0x5f); return set;
      case "W": addRange(set, 0x30, 0x39); addRange(set, 0x41, 0x5a); addRange(set, 0x61, 0x7a); addRange(set, 0x5f, 0x5f); return complement(set);
      case "s": addRange(set, 0x09, 0x0d); addRange(set, 0x20, 0x20); set.nonAscii = true; return set;
      case "S": { addRange(set, 0x09, 0x0d); addRange(set, 0x20, 0x20); const other = complement(set); return other; }
      case "p":
      case "P": {
        const close = source.indexOf("}", position);
        position = close + 1;
        return fullSet();
      }
      case "x": {
        const code = Number.parseInt(source.slice(position, position + 2), 16);
        position += 2;
        addRange(set, code, code);
        return set;
      }
      case "u": {
        const code = Number.parseInt(source.slice(position, position + 4), 16);
        position += 4;
        addRange(set, code, code);
        return set;
      }
      case "n": addRange(set, 0x0a, 0x0a); return set;
      case "t": addRange(set, 0x09, 0x09); return set;
      case "r": addRange(set, 0x0d, 0x0d); return set;
      default:
        if (/[1-9k]/.test(letter)) throw new PatternError("backreference");
        addRange(set, letter.charCodeAt(0), letter.charCodeAt(0));
        return set;
    }
  }

  function singleCode(set: CharSet): number | undefined {
    const members = set.ascii.flatMap((inSet, code) => (inSet ? [code] : []));
    return members.length === 1 && !set.nonAscii ? members[0] : undefined;
  }

  function classSet(): CharSet {
    position += 1; // [
    const negated = peek() === "^";
    if (negated) position += 1;
    const set = emptySet();
    while (peek() !== "]") {
      if (position >= source.length) throw new PatternError("unterminated class");
      let from: CharSet;
      if (peek() === "\\") {
        position += 1;
        from = escapeSet();
      } else {
        from = emptySet();
        addRange(from, source.charCodeAt(position), source.charCodeAt(position));
        position += 1;
      }
      const low = singleCode(from);
      if (peek() === "-" && source.charAt(position + 1) !== "]" && low !== undefined) {
        position += 1;
        let high: number | undefined;
        if (peek() === "\\") {
          position += 1;
          high = singleCode(escapeSet());
        } else {
          high = source.charCodeAt(position);
          position += 1;
        }
        if (high === undefined) throw new PatternError("bad range");
        addRange(set, low, high);
      } else {
        union(set, from);
      }
    }
    position += 1; // ]
    return negated ? complement(set) : set;
  }

  function quantifier(): Quantifier | undefined {
    const c = peek();
    let min: number;
    let max: number;
    if (c === "*") { min = 0; max = Infinity; position += 1; }
    else if (c === "+") { min = 1; max = Infinity; position += 1; }
    else if (c === "?") { min = 0; max = 1; position += 1; }
    else if (c === "{") {
      const close = source.indexOf("}", position);
      const [low = "", high] = source.slice(position + 1, close).split(",");
      min = Number(low);
      max = high === undefined ? min : high === "" ? Infinity : Number(high);
      position = close + 1;
    } else return undefined;
    if (peek() === "?") position += 1; // lazy: same matches, other order
    return { min, max, end: position };
  }

  function alternatives(): Node[][] {
    const result: Node[][] = [[]];
    while (position < source.length && peek() !== ")") {
      const c = peek();
      if (c === "|") { position += 1; result.push([]); continue; }
      let node: Node;
      if (c === "^" || c === "$") { position += 1; node = { kind: "assertion" }; }
      else if (c === "\\" && (source.charAt(position + 1) === "b" || source.charAt(position + 1) === "B")) { position += 2; node = { kind: "assertion" }; }
      else if (c === "(") {
        position += 1;
        let lookaround = false;
        if (peek() === "?") {
          const kind = source.slice(position, position + 3);
          if (kind.startsWith("?:")) position += 2;
          else if (kind.startsWith("?=") || kind.startsWith("?!") || kind === "?<=" || kind === "?<!") {
            lookaround = true;
            position += kind.startsWith("?<") ? 3 : 2;
          } else if (kind.startsWith("?<")) position = source.indexOf(">", position) + 1;
        }
        const inner = alternatives();
        if (peek() !== ")") throw new PatternError("unterminated group");
        position += 1;
        node = { kind: "group", alternatives: inner, lookaround };
      } else if (c === "[") node = { kind: "chars", set: classSet() };
      else if (c === "\\") { position += 1; node = { kind: "chars", set: escapeSet() }; }
      else if (c === ".") { position += 1; node = { kind: "chars", set: fullSet() }; }
      else { const set = emptySet(); addRange(set, source.charCodeAt(position), source.charCodeAt(position)); position += 1; node = { kind: "chars", set }; }
      if (node.kind === "chars" && ignoreCase) foldCase(node.set);
      const q = quantifier();
      if (q !== undefined) {
        if (node.kind === "assertion") throw new PatternError("quantified assertion");
        node.quantifier = q;
      }
      result.at(-1)?.push(node);
    }
    return result;
  }

  const tree = alternatives();
  if (position !== source.length) throw new PatternError("unbalanced parenthesis");
  return tree;
}

// ---- the shape rules ----

const isVariable = (node: Node) => node.kind !== "assertion" && node.quantifier !== undefined && node.quantifier.max > node.quantifier.min;
const minimumOf = (node: Node) => (node.kind === "assertion" ? 0 : (node.quantifier?.min ?? 1));

/** Every character the node can consume. */
function charactersOf(node: Node): CharSet {
  if (node.kind === "chars") return node.set;
  const set = emptySet();
  if (node.kind === "group") for (const sequence of node.alternatives) for (const inner of sequence) union(set, charactersOf(inner));
  return set;
}

/** The characters a match of the sequence can start with. */
function firstCharactersOf(sequence: readonly Node[]): CharSet {
  const set = emptySet();
  for (const node of sequence) {
    if (node.kind === "assertion") continue;
    if (node.kind === "chars") union(set, node.set);
    else for (const alternative of node.alternatives) union(set, firstCharactersOf(alternative));
    if (minimumOf(node) > 0) break;
  }
  return set;
}

function containsVariable(node: Node): boolean {
  if (node.kind !== "group") return false;
  return node.alternatives.some((sequence) => sequence.some((inner) => isVariable(inner) || containsVariable(inner)));
}

function variableNodesIn(node: Node): Node[] {
  if (node.kind !== "group") return [];
  return node.alternatives.flatMap((sequence) => sequence.flatMap((inner) => [...(isVariable(inner) ? [inner] : []), ...variableNodesIn(inner)]));
}

/** What makes this pattern super-linear, or undefined when its shape rules that out. */
export function nonLinearShape(source: string, flags: string): string | undefined {
  let tree: Node[][];
  try {
    tree = parsePattern(source, flags);
  } catch (error) {
    return error instanceof PatternError ? error.message : String(error);
  }
  const problems: string[] = [];
  const visitSequence = (sequence: readonly Node[]) => {
    sequence.forEach((node, index) => {
      if (node.kind === "group") {
        if (node.lookaround) problems.push("lookaround");
        // A repeated group holding a variable quantifier: each repetition could end anywhere,
        // unless it starts with a separator none of its variable parts can consume.
        if ((node.quantifier?.max ?? 1) > 1 && containsVariable(node)) {
          const [only, ...others] = node.alternatives;
          const separator = only?.[0];
          const separated =
            others.length === 0 && separator?.kind === "chars" && separator.quantifier === undefined &&
            variableNodesIn(node).every((inner) => !overlaps(charactersOf(inner), separator.set));
          if (!separated) problems.push("nested quantifier");
        }
        for (const alternative of node.alternatives) visitSequence(alternative);
      }
      if (!isVariable(node)) return;
      // Two variable quantifiers in a row that can consume the same characters.
      const consumed = charactersOf(node);
      for (const next of sequence.slice(index + 1)) {
        if (next.kind === "assertion") continue;
        if (isVariable(next) && overlaps(consumed, firstCharactersOf([next]))) problems.push("adjacent overlapping quantifiers");
        if (minimumOf(next) > 0) break;
      }
    });
  };
  for (const alternative of tree) visitSequence(alternative);

  // A search may start at every position: after an unbounded quantifier nothing may be
  // able to fail, or each start re-scans the run (quadratic).
  const anchored = tree.every((alternative) => alternative[0]?.kind === "assertion" && source.startsWith("^")) || flags.includes("y");
  if (!anchored) {
    const unbounded = /[*+]|\{\d+,\}/g;
    for (const match of source.matchAll(unbounded)) {
      let after = (match.index) + match[0].length;
      if (source.charAt(after) === "?") after += 1;
      if (!/^\)*$/.test(source.slice(after)) && !isInsideClass(source, match.index)) problems.push("unanchored search with a quantified run that can still fail");
    }
  }
  return problems.length === 0 ? undefined : [...new Set(problems)].join(", ");
}

function isInsideClass(source: string, index: number): boolean {
  let inside = false;
  for (let i = 0; i < index; i += 1) {
    const c = source.charAt(i);
    if (c === "\\") { i += 1; continue; }
    if (c === "[") inside = true;
    if (c === "]") inside = false;
  }
  return inside;
}

// ---- every pattern in src/ ----

interface FoundPattern {
  readonly file: string;
  readonly line: number;
  readonly source: string;
  readonly flags: string;
}

const SRC = path.resolve(import.meta.dirname, "../../src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [full] : [];
  });
}

function patternsIn(file: string): { literals: FoundPattern[]; constructed: number[] } {
  const text = readFileSync(file, "utf8");
  const sourceFile = ts.createSourceFile(file, text, ts.ScriptTarget.ES2023, true);
  const literals: FoundPattern[] = [];
  const constructed: number[] = [];
  const visit = (node: ts.Node) => {
    const line = sourceFile.getLineAndCharacterOfPosition(node.getStart()).line + 1;
    if (node.kind === ts.SyntaxKind.RegularExpressionLiteral) {
      const literal = node.getText();
      const close = literal.lastIndexOf("/");
      literals.push({ file: path.relative(SRC, file), line, source: literal.slice(1, close), flags: literal.slice(close + 1) });
    }
    if ((ts.isNewExpression(node) || ts.isCallExpression(node)) && ts.isIdentifier(node.expression) && node.expression.text === "RegExp") {
      constructed.push(line);
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return { literals, constructed };
}

const FOUND = sourceFiles(SRC).map((file) => ({ file, ...patternsIn(file) }));
const LITERALS = FOUND.flatMap((found) => found.literals);

describe("every regular expression in src/ runs in linear time, by construction", () => {
  it("finds the patterns (the scan itself works)", () => {
    expect(LITERALS.length).toBeGreaterThan(30);
    expect(LITERALS.some((found) => found.file === path.join("platform", "names.ts"))).toBe(true);
  });

  it("builds no pattern at run time: every pattern is a literal this test can see", () => {
    expect(FOUND.filter((found) => found.constructed.length > 0).map((found) => path.relative(SRC, found.file))).toEqual([]);
  });

  it.each(LITERALS.map((found) => [`${found.file}:${String(found.line)} /${found.source}/${found.flags}`, found] as const))(
    "%s has no super-linear shape",
    (_label, found) => {
      expect(nonLinearShape(found.source, found.flags)).toBeUndefined();
    },
  );

  it("redacts log text with no pattern at all", () => {
    const logging = patternsIn(path.join(SRC, "platform", "logging.ts"));
    expect(logging.literals).toEqual([]);
  });
});

describe("the shape checker", () => {
  it.each([
    ["the former JWT redaction pattern", "\\beyJ[A-Za-z0-9_-]*\\.[A-Za-z0-9_.-]*", "g"],
    ["a trailing-slash search", "\\/+$", ""],
    ["a nested quantifier", "^(a+)+$", ""],
    ["overlapping neighbours", "^[a-z]+[a-z0-9]*$", ""],
    ["overlapping neighbours across an optional part", "^\\d+-?\\d+$", ""],
    ["a Bearer search with a run after a run", "\\bBearer\\s+\\S+", "gi"],
    ["a lookbehind", "(?<![a-z])[a-z]{32,}", "g"],
    ["a backreference", "^(a)\\1$", ""],
  ])("refuses %s", (_label, source, flags) => {
    expect(nonLinearShape(source, flags)).toBeDefined();
  });

  it.each([
    ["an anchored name", "^[a-z0-9][a-z0-9-]{0,62}$", ""],
    ["a separated list", "^[\\x21\\x23-\\x5b\\x5d-\\x7e]{1,255}( [\\x21\\x23-\\x5b\\x5d-\\x7e]{1,255}){0,9}$", ""],
    ["a search whose run ends the pattern", ":([A-Za-z_][A-Za-z0-9_]*)", "g"],
    ["disjoint neighbours", "^[A-Za-z0-9+/]*={0,2}$", ""],
  ])("accepts %s", (_label, source, flags) => {
    expect(nonLinearShape(source, flags)).toBeUndefined();
  });
});

describe("log text is bounded before it is scanned", () => {
  it("cuts any string to the bound, whatever it holds", () => {
    for (const hostile of ["eyJ-".repeat(16_384), "a".repeat(65_536), "/v1/nodes/%ZZ".repeat(5000), "Bearer ".repeat(10_000)]) {
      expect(redactTokenLikeText(hostile).length).toBeLessThanOrEqual(MAX_LOGGED_STRING_CHARS + 64);
    }
  });

  it("never cuts a token in two: the run the cut falls in is dropped whole", () => {
    const token = "q2Jx9vT0aLm3Zp8YwE1RkS7uN4cB6dHfGiOjV5Xy_-A";
    const text = `${" ".repeat(MAX_LOGGED_STRING_CHARS - 10)}${token} and more`;
    const bounded = boundForLogging(text);
    expect(bounded).not.toContain(token.slice(0, 10));
    expect(redactTokenLikeText(text)).not.toContain(token.slice(0, 10));
  });
});
