// The one escape of durable instance ids and entity keys (lib/orchestration/names.ts says why):
// the result holds only A-Z a-z 0-9 - . : @ ~, which a URL path carries unchanged and which decode
// to themselves however often an endpoint decodes; any other character is "_" + two upper-case hex
// digits per UTF-8 byte ("_" itself is "_5F"), so the mapping is deterministic and one-to-one.

const SAFE = /^[A-Za-z0-9\-.:@~]$/;
const utf8 = new TextEncoder();

/** `raw` as a durable instance id / entity key that never needs URL encoding. */
export function durableSafeId(raw: string): string {
  let out = "";
  for (const ch of raw) {
    if (SAFE.test(ch)) {
      out += ch;
      continue;
    }
    for (const byte of utf8.encode(ch)) out += `_${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
