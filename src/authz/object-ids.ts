import { Buffer } from "node:buffer";
import { CustosError } from "../platform/errors.ts";

/**
 * The one place where Custos names become SpiceDB object ids (DESIGN.md, "Names").
 *
 * SpiceDB allows only `[a-zA-Z0-9/_|\-=+]` (at most 1024 characters) in an object id, while an
 * OIDC `sub` may hold anything. Each name component is therefore escaped: the characters
 * `[A-Za-z0-9_-]` stand for themselves and every other character becomes `=XX` per UTF-8 byte
 * (uppercase hex), including `=` itself. Escaped components never contain `/`, so `/` appears
 * only where encodeObjectId places it between components. Both steps are injective, and
 * decodeObjectId accepts only canonical encodings, so the mapping is a bijection onto its image.
 * A side effect worth having: no encoded id can be the wildcard `*`.
 */

declare const objectIdBrand: unique symbol;

/** A SpiceDB object id that came out of this module (or was checked by parseObjectId). */
export type ObjectId = string & { readonly [objectIdBrand]: true };

export type ObjectType = "user" | "node" | "domain" | "secret";

export interface ObjectRef {
  readonly type: ObjectType;
  readonly id: ObjectId;
}

export const MAX_OBJECT_ID_LENGTH = 1024;

const ESCAPE = "=";
const SEPARATOR = "/";
const PLAIN_CHAR = /^[A-Za-z0-9_-]$/;
const SPICEDB_OBJECT_ID = /^[a-zA-Z0-9/_|\-=+]+$/;
// With the u flag a well-formed surrogate pair is one code point; only lone halves match.
const LONE_SURROGATE = /\p{Cs}/u;

function invalid(detail: string): CustosError {
  return new CustosError("invalid_name", { detail });
}

function hexByte(byte: number): string {
  return byte.toString(16).toUpperCase().padStart(2, "0");
}

/** Escapes one component. Throws invalid_name for an empty or ill-formed (lone surrogate) string. */
export function escapeComponent(value: string): string {
  if (value === "") throw invalid("an authorization name component must not be empty");
  // Buffer.from would turn a lone surrogate into U+FFFD, colliding with a real U+FFFD.
  if (LONE_SURROGATE.test(value)) throw invalid("an authorization name must be well-formed Unicode");
  let out = "";
  for (const char of value) {
    if (PLAIN_CHAR.test(char)) {
      out += char;
      continue;
    }
    for (const byte of Buffer.from(char, "utf8")) out += ESCAPE + hexByte(byte);
  }
  return out;
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

function unescapeBytes(encoded: string): Uint8Array {
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    const char = encoded.charAt(i);
    if (PLAIN_CHAR.test(char)) {
      bytes.push(char.charCodeAt(0));
      continue;
    }
    if (char !== ESCAPE) throw invalid("unexpected character in an authorization object id component");
    const hex = encoded.slice(i + 1, i + 3);
    if (!/^[0-9A-F]{2}$/.test(hex)) throw invalid("malformed escape in an authorization object id");
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  return Uint8Array.from(bytes);
}

/** Inverse of escapeComponent; rejects anything escapeComponent would not have produced. */
export function unescapeComponent(encoded: string): string {
  let decoded: string;
  try {
    decoded = STRICT_UTF8.decode(unescapeBytes(encoded));
  } catch (error) {
    if (error instanceof CustosError) throw error;
    throw invalid("an authorization object id does not decode to UTF-8");
  }
  // Canonical form only (no `=41` for `A`, no lowercase hex, no stray characters): re-encoding
  // must give back exactly the input, which makes decode an exact inverse of encode.
  if (decoded === "" || escapeComponent(decoded) !== encoded) {
    throw invalid("an authorization object id is not in canonical form");
  }
  return decoded;
}

/** Encodes one or more name components as an object id. Throws invalid_name when too long. */
export function encodeObjectId(components: readonly string[]): ObjectId {
  if (components.length === 0) throw invalid("an authorization object id needs at least one component");
  const id = components.map(escapeComponent).join(SEPARATOR);
  if (id.length > MAX_OBJECT_ID_LENGTH) {
    throw invalid(`an authorization object id is at most ${MAX_OBJECT_ID_LENGTH} characters once encoded`);
  }
  return id as ObjectId;
}

/** The components an id was encoded from. Throws invalid_name for a non-canonical id. */
export function decodeObjectId(id: string): string[] {
  return id.split(SEPARATOR).map(unescapeComponent);
}

/**
 * Accepts an id that SpiceDB handed back (ReadRelationships). It checks SpiceDB's own alphabet
 * and our canonical encoding, so a relationship written by something else is noticed.
 */
export function parseObjectId(raw: string): ObjectId {
  if (raw.length > MAX_OBJECT_ID_LENGTH || !SPICEDB_OBJECT_ID.test(raw)) {
    throw invalid("not a SpiceDB object id");
  }
  decodeObjectId(raw);
  return raw as ObjectId;
}

/** `user:<encoded oidc:<domain>:<sub>>`: the whole namespaced subject is one component. */
export function userRef(subject: string): ObjectRef {
  return { type: "user", id: encodeObjectId([subject]) };
}

export function domainRef(domain: string): ObjectRef {
  return { type: "domain", id: encodeObjectId([domain]) };
}

export function nodeRef(nodeId: string): ObjectRef {
  return { type: "node", id: encodeObjectId([nodeId]) };
}

/** `secret:<domain>/<name>`: the only `/` in the id is the one placed here. */
export function secretRef(domain: string, name: string): ObjectRef {
  return { type: "secret", id: encodeObjectId([domain, name]) };
}
