// Key commitments: HMAC-SHA256 of a fixed, per-record-kind label under a key. A signed record
// carries its key's commitment instead of a signature over the wrapped bytes, so the wrap may change
// (a KEK re-wrap) without a new signature, while a wrap replaced by one of another key fails the
// check after unwrap. Used by branch-key records (./branchKeys.ts) and signed format-1 DEK records
// (lib/envelope/flatDekAuth.ts), each with its own label: a commitment of one kind is never valid
// for the other.
import { createHmac, timingSafeEqual } from "node:crypto";

export function keyCommitment(key: Uint8Array, label: string): string {
  return createHmac("sha256", key).update(label, "utf8").digest().toString("base64url");
}

/** Does `key` match the signed `commitment` under `label`? (constant time) */
export function keyCommitmentMatches(key: Uint8Array, commitment: string, label: string): boolean {
  const a = Buffer.from(keyCommitment(key, label), "base64url");
  const b = Buffer.from(commitment, "base64url");
  return a.length === b.length && timingSafeEqual(a, b);
}
