import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonTextTooDeep, jsonValueTooDeep, MAX_JSON_DEPTH } from "../../../lib/domain/jsonDepth";

const nested = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;

describe("jsonTextTooDeep / jsonValueTooDeep", () => {
  it("allow exactly MAX_JSON_DEPTH levels and refuse one more, as text and as a value", () => {
    expect(jsonTextTooDeep(nested(MAX_JSON_DEPTH))).toBe(false);
    expect(jsonTextTooDeep(nested(MAX_JSON_DEPTH + 1))).toBe(true);
    expect(jsonValueTooDeep(JSON.parse(nested(MAX_JSON_DEPTH)))).toBe(false);
    expect(jsonValueTooDeep(JSON.parse(nested(MAX_JSON_DEPTH + 1)))).toBe(true);
    expect(jsonValueTooDeep(1)).toBe(false);
  });

  it("measure 100,000 levels without overflowing the stack", () => {
    const deep = nested(100_000);
    expect(jsonTextTooDeep(deep)).toBe(true);
    let v: unknown = 1;
    for (let i = 0; i < 100_000; i++) v = { a: v };
    expect(jsonValueTooDeep(v)).toBe(true);
  });

  it("skip brackets inside strings, escaped quotes included", () => {
    expect(jsonTextTooDeep(JSON.stringify({ s: "[".repeat(100), t: '\\"{{{{{{' + "{".repeat(100) }))).toBe(false);
  });

  it("agree with each other on any JSON value", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 8 }), (v, max) => jsonTextTooDeep(JSON.stringify(v), max) === jsonValueTooDeep(v, max)),
      { numRuns: 1000 },
    );
  });
});
