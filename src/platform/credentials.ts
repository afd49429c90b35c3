import { timingSafeEqual } from "node:crypto";

/**
 * Whether two secrets-derived byte strings (digests, MACs) are equal, in time that does not
 * depend on where they first differ. Inputs of different lengths are unequal at once: the
 * length of a digest or MAC is public, its content is not.
 */
export function constantTimeEqual(presented: Uint8Array, expected: Uint8Array): boolean {
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}
