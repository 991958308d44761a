// Comments say the rule itself: none in lib/ or functions/ cites a document or an issue a reader of
// the repository cannot open (the design notes and issue tracker live outside it).
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../../..");
const UNOPENABLE = /ARCHITECTURE\.md|STYLE\.md|\binvariants? \d|\bissue #?\d+|\bseeds\//;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return /\.(ts|md)$/.test(name) ? [p] : [];
  });
}

describe("comments in lib/ and functions/", () => {
  it("cite no design note, invariant number or issue number outside the repository", () => {
    const found = ["lib", "functions"].flatMap((d) => sources(path.join(ROOT, d))).flatMap((file) =>
      readFileSync(file, "utf8").split("\n").flatMap((line, i) => (UNOPENABLE.test(line) ? [`${path.relative(ROOT, file)}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(found).toEqual([]);
  });
});
