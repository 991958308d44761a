// The canonical encoding the ledger hashes, documented here and in docs/ledger.md because an
// auditor (or a script in another language) must be able to recompute every hash.
//
// canonical(v) = the UTF-8 bytes of JSON text with
//   - object keys sorted by UTF-16 code unit order, at every level;
//   - properties whose value is undefined omitted (so "absent" and "undefined" hash the same);
//   - no whitespace; strings escaped as JSON.stringify does; numbers finite only.
// For the values the ledger holds (strings, integers, booleans, flat objects) this is the same
// text RFC 8785 (JCS) produces.
//
// Entry hash  = hex(SHA-256(canonical(entry without "hash"))); prevHash of seq 1 = GENESIS_HASH.
// Seal digest = SHA-256(canonical(seal fields without heads/hash/signature, plus root)).
import { createHash } from "node:crypto";

/** prevHash of the first entry of every chain (and of the first seal): 64 zeros. */
export const GENESIS_HASH = "0".repeat(64);

export type CanonicalValue = string | number | boolean | null | undefined | CanonicalValue[] | { [k: string]: CanonicalValue };

export function canonicalJson(value: CanonicalValue): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`[keyrotor] [ledger] cannot encode the number ${value} canonically`);
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
      const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
    }
    default:
      throw new TypeError(`[keyrotor] [ledger] cannot encode a ${typeof value} canonically`);
  }
}

export function sha256(data: string | Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
