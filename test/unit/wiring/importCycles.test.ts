// No import cycles inside lib/: a module graph without cycles is one a reader can follow from the
// composition root down, and one whose load order never hands a module a half-initialised import.
// Type-only imports count too: they tie the modules' meaning together the same way.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const LIB = path.resolve(__dirname, "../../../lib");

function libFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? libFiles(p) : e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

function resolve(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec.replace(/\.js$/, ""));
  for (const c of [`${base}.ts`, path.join(base, "index.ts")]) if (existsSync(c)) return c;
  return undefined;
}

/** Relative imports and re-exports of one file, resolved to files. */
function importsOf(file: string, text: string): string[] {
  const src = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  for (const st of src.statements) {
    const spec = (ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier) ? st.moduleSpecifier.text : undefined;
    if (!spec?.startsWith(".")) continue;
    const target = resolve(file, spec);
    if (target) out.push(target);
  }
  return out;
}

/** The strongly connected components with more than one module (or a module importing itself). */
export function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

describe("the import graph of lib/", () => {
  it("has no cycle", () => {
    const graph = new Map(libFiles(LIB).map((f) => [f, importsOf(f, readFileSync(f, "utf8"))]));
    const named = cycles(graph).map((c) => c.map((f) => path.relative(LIB, f).split(path.sep).join("/")));
    expect(named).toEqual([]);
  });

  it("finds a two-module cycle and a longer one, and nothing in a chain", () => {
    const g = new Map([["a", ["b"]], ["b", ["a"]], ["c", ["d"]], ["d", ["e"]], ["e", ["c"]], ["x", ["y"]], ["y", []]]);
    expect(cycles(g).map((c) => c.join(","))).toEqual(expect.arrayContaining(["a,b", "c,d,e"]));
    expect(cycles(g)).toHaveLength(2);
  });
});
