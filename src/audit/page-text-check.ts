import { hashCanonicalRecord } from "./audit-record.ts";
import { FIELD_SEPARATOR, parsePage, RECORD_SEPARATOR } from "./audit-store.ts";
import { canonicalJson } from "./canonical-json.ts";
import { checkRows, type CheckpointMark, type PageCheck } from "./audit-verifier.ts";

/**
 * checkRows(chain, parsePage(text), checkpoint), without building the records: the page's
 * text (as streamRecordPageTexts reads it) is walked in place. Each row's canonical JSON is
 * assembled from slices of the page in the record's fixed key order (JCS order), each text
 * field between quotes as it is when it holds nothing JSON.stringify would escape (and
 * through JSON.stringify when it does), then hashed by hashCanonicalRecord. Only `details`
 * is arbitrary JSON: jsonb's text of a flat object is read in place, anything else parsed
 * (JSON.parse, canonicalJson).
 *
 * The shortcut only ever answers "every row passed". A page with anything else (a failure
 * of any kind, rows out of order, a row of unexpected shape, a seq it does not write the
 * canonical way) is checked again by checkRows over parsePage, which decides the outcome.
 * So the report, failure or not, is checkRows's by construction, and unit tests hold the
 * shortcut's canonical bytes equal to canonicalRecordText's.
 */
export function checkPageText(chain: string, text: string | undefined, checkpoint: CheckpointMark | undefined): PageCheck {
  if (text !== undefined) {
    let intact: PageCheck | undefined;
    try {
      intact = checkIntactPage(chain, text, checkpoint);
    } catch {
      // A row the shortcut cannot write (details that do not parse, say): checkRows decides.
      intact = undefined;
    }
    if (intact !== undefined) return intact;
  }
  return checkRows(chain, parsePage(text), checkpoint);
}

/** chain, seq, at, actor, action, resource, decision, reason, request_id, prev_hash, hash, details. */
const FIELDS = 12;
const [CHAIN, SEQ, AT, ACTOR, ACTION, RESOURCE, DECISION, REASON, REQUEST_ID, PREV_HASH, HASH, DETAILS] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] as const;

const starts = new Int32Array(FIELDS);
const ends = new Int32Array(FIELDS);

/** The PageCheck of a page whose every row passes, or undefined: checkRows must decide (exported for its tests). */
export function checkIntactPage(chain: string, text: string, checkpoint: CheckpointMark | undefined): PageCheck | undefined {
  let first: PageCheck["first"] = null;
  let passed = 0;
  let lastSeq = 0;
  let lastHash = "";
  let lastAtStart = 0;
  let lastAtEnd = 0;
  let checkpointReached = false;
  for (let position = 0; position <= text.length; passed += 1) {
    const rowStart = position;
    const rowEnd = endOf(text, RECORD_SEPARATOR, position, text.length);
    if (!splitRow(text, position, rowEnd)) return undefined;
    position = rowEnd + 1;

    if ((ends[CHAIN] as number) - (starts[CHAIN] as number) !== chain.length || !text.startsWith(chain, starts[CHAIN])) return undefined;
    const seq = canonicalSeq(text, starts[SEQ] as number, ends[SEQ] as number);
    if (seq === undefined) return undefined;
    if (first === null) {
      first = { seq, prev_hash: text.slice(starts[PREV_HASH], ends[PREV_HASH]) };
    } else if (seq !== lastSeq + 1 || !isText(text, PREV_HASH, lastHash)) {
      return undefined;
    }
    const digest = hashRow(text, rowStart);
    if (!isText(text, HASH, digest)) return undefined;
    if (checkpoint !== undefined && seq === checkpoint.seq) {
      checkpointReached = true;
      if (digest !== checkpoint.hash) return undefined;
    }
    lastSeq = seq;
    lastHash = digest;
    lastAtStart = starts[AT] as number;
    lastAtEnd = ends[AT] as number;
  }
  const last = first === null ? null : { seq: lastSeq, hash: lastHash, at: text.slice(lastAtStart, lastAtEnd) };
  return { first, passed, last, failure: null, checkpointReached };
}

/** The index of the next `separator` in [from, end), or end. */
function endOf(text: string, separator: string, from: number, end: number): number {
  const at = text.indexOf(separator, from);
  return at === -1 || at > end ? end : at;
}

/** Fills starts/ends with the row's twelve fields; false when it has fewer. */
function splitRow(text: string, from: number, rowEnd: number): boolean {
  let start = from;
  for (let field = 0; field < FIELDS - 1; field += 1) {
    const end = endOf(text, FIELD_SEPARATOR, start, rowEnd);
    if (end === rowEnd) return false;
    starts[field] = start;
    ends[field] = end;
    start = end + 1;
  }
  // A separator inside details makes JSON.parse refuse it, and checkRows decide.
  starts[DETAILS] = start;
  ends[DETAILS] = rowEnd;
  return true;
}

/** Whether the field's text is exactly `value`. */
function isText(text: string, field: number, value: string): boolean {
  return (ends[field] as number) - (starts[field] as number) === value.length && text.startsWith(value, starts[field]);
}

/**
 * The seq a field holds, when String(Number(field)) gives the field back (1 to 15 digits, no
 * leading zero): the canonical JSON then holds the field's own characters.
 */
function canonicalSeq(text: string, start: number, end: number): number | undefined {
  const length = end - start;
  if (length < 1 || length > 15 || (length > 1 && text.charCodeAt(start) === 0x30)) return undefined;
  let seq = 0;
  for (let index = start; index < end; index += 1) {
    const digit = text.charCodeAt(index) - 0x30;
    if (digit < 0 || digit > 9) return undefined;
    seq = seq * 10 + digit;
  }
  return seq;
}

/**
 * A character JSON.stringify writes otherwise than as itself: a quote, a backslash, a control
 * character (the two separators excepted, which no field holds) or a surrogate (a pair is
 * written as it is, but the test is per code unit). Sticky search from a row's start.
 */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const ESCAPED = /["\\\u0000-\u001d\ud800-\udfff]/g;

/** SHA-256 (hex) of the row's prev_hash bytes and canonical JSON, as computeRecordHash hashes them. */
function hashRow(text: string, rowStart: number): string {
  const details = canonicalDetails(text, starts[DETAILS] as number, ends[DETAILS] as number);
  // A field without such characters is its own JSON string between quotes.
  ESCAPED.lastIndex = rowStart;
  const plain = !ESCAPED.test(text) || ESCAPED.lastIndex > (starts[DETAILS] as number);
  const json = plain ? quoted : stringified;
  const canonical =
    `{"action":${json(text, ACTION)},"actor":${json(text, ACTOR)},"at":${json(text, AT)},"chain":${json(text, CHAIN)}` +
    `,"decision":${json(text, DECISION)},"details":${details},"prev_hash":${json(text, PREV_HASH)},"reason":${json(text, REASON)}` +
    `,"request_id":${json(text, REQUEST_ID)},"resource":${json(text, RESOURCE)},"seq":${field(text, SEQ)}}`;
  return hashCanonicalRecord(field(text, PREV_HASH), canonical);
}

function field(text: string, index: number): string {
  return text.slice(starts[index], ends[index]);
}

function quoted(text: string, index: number): string {
  return `"${field(text, index)}"`;
}

function stringified(text: string, index: number): string {
  return JSON.stringify(field(text, index));
}

/**
 * canonicalJson(JSON.parse(details)). The jsonb text of a flat object whose values are
 * strings without escapes, integers of at most 15 digits, booleans or null, and whose keys
 * PostgreSQL already wrote in JCS order (it sorts by length first), is canonical once the
 * blanks after its colons and commas are gone: read here in place. Anything else is parsed.
 */
function canonicalDetails(text: string, start: number, end: number): string {
  const canonical = flatCanonical(text, start, end) ?? canonicalJson(JSON.parse(text.slice(start, end)));
  if (canonical === undefined) throw new TypeError("audit record details cannot be canonicalised");
  return canonical;
}

function flatCanonical(text: string, start: number, end: number): string | undefined {
  if (text.charCodeAt(start) !== 0x7b || text.charCodeAt(end - 1) !== 0x7d) return undefined;
  if (end - start === 2) return "{}";
  let canonical = "{";
  let previousKey = "";
  for (let at = start + 1; ; ) {
    const keyEnd = plainStringEnd(text, at, end);
    if (keyEnd < 0) return undefined;
    const key = text.slice(at + 1, keyEnd - 1);
    if (canonical.length > 1 && !(previousKey < key)) return undefined;
    previousKey = key;
    if (text.charCodeAt(keyEnd) !== 0x3a || text.charCodeAt(keyEnd + 1) !== 0x20) return undefined;
    const valueEnd = plainValueEnd(text, keyEnd + 2, end);
    if (valueEnd < 0) return undefined;
    canonical += `${canonical.length > 1 ? "," : ""}${text.slice(at, keyEnd)}:${text.slice(keyEnd + 2, valueEnd)}`;
    if (valueEnd === end - 1) return `${canonical}}`;
    if (text.charCodeAt(valueEnd) !== 0x2c || text.charCodeAt(valueEnd + 1) !== 0x20) return undefined;
    at = valueEnd + 2;
  }
}

/** After a string at `at` with no escape, control character or surrogate in it; -1 otherwise. */
function plainStringEnd(text: string, at: number, end: number): number {
  if (text.charCodeAt(at) !== 0x22) return -1;
  for (let index = at + 1; index < end; index += 1) {
    const code = text.charCodeAt(index);
    if (code === 0x22) return index + 1;
    if (code === 0x5c || code < 0x20 || (code >= 0xd800 && code <= 0xdfff)) return -1;
  }
  return -1;
}

/** After a value JCS writes as jsonb does (see flatCanonical); -1 for any other. */
function plainValueEnd(text: string, at: number, end: number): number {
  const code = text.charCodeAt(at);
  if (code === 0x22) return plainStringEnd(text, at, end);
  if (text.startsWith("true", at)) return at + 4;
  if (text.startsWith("false", at)) return at + 5;
  if (text.startsWith("null", at)) return at + 4;
  // An integer: an optional minus, then 1 to 15 digits without a leading zero ("0" itself
  // only unsigned, since -0 is written 0), so String(Number(it)) is the same characters.
  const digits = code === 0x2d ? at + 1 : at;
  let index = digits;
  while (index < end && index - digits <= 15) {
    const digit = text.charCodeAt(index);
    if (digit < 0x30 || digit > 0x39) break;
    index += 1;
  }
  const count = index - digits;
  if (count < 1 || count > 15) return -1;
  if (text.charCodeAt(digits) === 0x30 && (count > 1 || digits !== at)) return -1;
  return index;
}
