// Documented commands never fetch code from the public registry: `npx keyrotor` run outside the
// clone downloads whatever is published under that (unclaimed) name, and deploy.md hands it a
// bearer token. README, docs/ and the dev banner use `node bin/keyrotor` (or `npm exec --no`).
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../../..");
const DOCS = ["README.md", ...readdirSync(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
/** The banner `npm start` prints is built in dev/start.ts. */
const SOURCES = [...DOCS, "dev/start.ts"];
/** npx (or npm exec / npm x without --no) that may install keyrotor from the registry. */
const FETCHING = /\bnpx(\s+-{1,2}[\w-]+(=\S+)?)*\s+keyrotor\b|\bnpm\s+(exec|x)\s+(?![^\n]*--no\b)[^\n]*\bkeyrotor\b/;

describe("documented CLI commands run the clone's code", () => {
  it.each(SOURCES)("%s never runs keyrotor through npx", (file) => {
    const lines = readFileSync(path.join(ROOT, file), "utf8").split("\n");
    const offending = lines.map((l, i) => `${file}:${i + 1}: ${l.trim()}`).filter((l) => FETCHING.test(l));
    expect(offending).toEqual([]);
  });

  it("the pattern catches the forms that fetch, and spares the ones that cannot", () => {
    for (const bad of ["npx keyrotor plan", "  npx -y keyrotor keys", "npx --yes keyrotor status", "npm exec keyrotor -- plan", "npm x -- keyrotor plan"]) expect(bad).toMatch(FETCHING);
    for (const ok of ["node bin/keyrotor plan", "npm exec --no -- keyrotor plan", "npx vitest run", "npx tsc --noEmit"]) expect(ok).not.toMatch(FETCHING);
  });

  it("README and the banner show `node bin/keyrotor`", () => {
    expect(readFileSync(path.join(ROOT, "README.md"), "utf8")).toContain("node bin/keyrotor plan");
    // The banner builds its lines from one CLI prefix (bannerCommands.test.ts runs them as printed).
    expect(readFileSync(path.join(ROOT, "dev/start.ts"), "utf8")).toContain("`node bin/keyrotor");
  });
});
