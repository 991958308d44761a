import { describe, expect, it } from "vitest";
import { GENESIS_HASH, canonicalJson, entryHash } from "../../../lib/ledger";
import { buildEntry, canonicalEntry, canonicalEntryReference, ENTRY_ROW_FIELDS, entryToRow, rowToEntry } from "../../../lib/ledger/entry";
import { LEDGER_ENTRY_TYPES } from "../../../lib/ports";
import { ROTATION_TRIGGERS } from "../../../lib/domain/keys";
import fc from "fast-check";

describe("canonical encoding", () => {
  it("sorts keys at every level, omits undefined and has no whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: true, c: "x" }, z: undefined })).toBe('{"a":{"c":"x","d":true},"b":1}');
  });

  it("refuses numbers JSON cannot carry", () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/cannot encode the number NaN/);
  });

  it("pins the hash of a known entry, as Python's json.dumps(sort_keys=True, separators=(',', ':')) + sha256 computes it", () => {
    const e = buildEntry({ keyId: "dek:contoso", entryId: "r1#0", type: "RotationRequested", actor: "alice", trigger: "manual" }, 1, GENESIS_HASH, "2026-01-01T00:00:00.000Z");
    expect(entryHash(e)).toBe(e.hash);
    expect(e.hash).toBe("df2bba0e8a1e3cde15f8203eace39852f4f52ead1226a3e9f74ed712fac963c2");
  });

  it("the hash covers every field: changing any one changes it", () => {
    const e = buildEntry({ keyId: "dek:c", entryId: "x", type: "Failed", actor: "a", counts: { n: 1 }, error: { code: "c", message: "m" }, details: { k: "v" } }, 7, GENESIS_HASH, "2026-01-01T00:00:00.000Z");
    const variants = [{ seq: 8 }, { actor: "b" }, { counts: { n: 2 } }, { error: { code: "c", message: "n" } }, { details: { k: "w" } }, { at: "2026-01-01T00:00:01.000Z" }, { prevHash: "1".repeat(64) }, { reason: "" }];
    for (const v of variants) expect(entryHash({ ...e, ...v })).not.toBe(e.hash);
  });

  it("verify selects every property an entry row can hold", () => {
    const e = buildEntry({
      keyId: "dek:c", entryId: "x", type: "Failed", actor: "a", rotationId: "r", trigger: "manual", reason: "why", versionBefore: "v1", versionAfter: "v2",
      counts: { n: 1 }, error: { code: "c", message: "m" }, details: { k: "v" },
    }, 1, GENESIS_HASH, "2026-01-01T00:00:00.000Z");
    expect([...ENTRY_ROW_FIELDS].sort()).toEqual(Object.keys(entryToRow(e)).sort());
  });

  it("a row read back is the entry that was written", () => {
    const e = buildEntry({ keyId: "dek:c", entryId: "x", type: "Completed", actor: "a", details: { ok: true, n: 2 } }, 1, GENESIS_HASH, "2026-01-01T00:00:00.000Z");
    expect(rowToEntry(entryToRow(e))).toEqual(e);
    expect(rowToEntry({ ...entryToRow(e), details: "{not json" })).toBe("details is not JSON");
  });
});

describe("the fast entry encoder", () => {
  it("produces exactly the reference canonical encoding for any entry", () => {
    const text = fc.string();
    const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
    const entry = fc.record({
      keyId: text, entryId: text, type: fc.constantFrom(...LEDGER_ENTRY_TYPES), actor: text, at: text, prevHash: text, seq: fc.nat(),
      rotationId: opt(text), trigger: opt(fc.constantFrom(...ROTATION_TRIGGERS)), reason: opt(text), versionBefore: opt(text), versionAfter: opt(text),
      counts: opt(fc.dictionary(text, fc.integer())), error: opt(fc.record({ code: text, message: text })),
      details: opt(fc.dictionary(text, fc.oneof(text, fc.integer(), fc.boolean(), fc.double({ noNaN: true, noDefaultInfinity: true })))),
    });
    fc.assert(fc.property(entry, (e) => canonicalEntry(e) === canonicalEntryReference(e)), { numRuns: 500 });
  });
});
