// Light Bicep reading for tests (no Bicep compiler runs here): balanced blocks that skip strings,
// interpolations and comments; top-level keys of an object; param declarations; module calls.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

export const ROOT = resolve(__dirname, "../../..");
export const INFRA = join(ROOT, "infra");

export function read(path: string): string {
  return readFileSync(join(ROOT, path), "utf8");
}

/** Every .bicep file under infra/, relative to the repository root. */
export function bicepFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".bicep")) out.push(relative(ROOT, p));
    }
  };
  walk(INFRA);
  return out.sort();
}

/** The source with comments blanked out (same length, so offsets still line up). */
export function stripComments(src: string): string {
  let out = "";
  let i = 0;
  while (i < src.length) {
    if (src.startsWith("'''", i)) {
      const end = src.indexOf("'''", i + 3);
      const stop = end < 0 ? src.length : end + 3;
      out += src.slice(i, stop);
      i = stop;
    } else if (src[i] === "'") {
      const stop = skipString(src, i);
      out += src.slice(i, stop);
      i = stop;
    } else if (src.startsWith("//", i)) {
      const end = src.indexOf("\n", i);
      const stop = end < 0 ? src.length : end;
      out += " ".repeat(stop - i);
      i = stop;
    } else if (src.startsWith("/*", i)) {
      const end = src.indexOf("*/", i + 2);
      const stop = end < 0 ? src.length : end + 2;
      out += src.slice(i, stop).replace(/[^\n]/g, " ");
      i = stop;
    } else {
      out += src[i];
      i++;
    }
  }
  return out;
}

/** Index just past a '...' string starting at `start`, skipping \' escapes and ${...}. */
function skipString(src: string, start: number): number {
  let i = start + 1;
  while (i < src.length) {
    const c = src[i];
    if (c === "\\") i += 2;
    else if (c === "'") return i + 1;
    else if (src.startsWith("${", i)) {
      let depth = 1;
      i += 2;
      while (i < src.length && depth > 0) {
        if (src[i] === "'") i = skipString(src, i);
        else {
          if (src[i] === "{") depth++;
          else if (src[i] === "}") depth--;
          i++;
        }
      }
    } else i++;
  }
  return i;
}

/** The balanced {...} or [...] that starts at the first opener at or after `from`. */
export function balancedFrom(src: string, from: number): { text: string; start: number; end: number } {
  const code = stripComments(src);
  let i = from;
  while (i < code.length && code[i] !== "{" && code[i] !== "[") i++;
  const start = i;
  let depth = 0;
  while (i < code.length) {
    if (code.startsWith("'''", i)) {
      i = code.indexOf("'''", i + 3) + 3;
      continue;
    }
    const c = code[i];
    if (c === "'") {
      i = skipString(code, i);
      continue;
    }
    if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return { text: code.slice(start, i + 1), start, end: i + 1 };
    }
    i++;
  }
  throw new Error(`unbalanced block from offset ${from}`);
}

/** The balanced block that follows the first match of `marker`. */
export function blockAfter(src: string, marker: string | RegExp): string {
  const at = typeof marker === "string" ? src.indexOf(marker) : src.search(marker);
  if (at < 0) throw new Error(`marker not found: ${String(marker)}`);
  return balancedFrom(src, at + (typeof marker === "string" ? marker.length : 0)).text;
}

/** Keys at the top level of an object block `{ ... }`. */
export function topLevelKeys(block: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let i = 0;
  let lineStart = true;
  while (i < block.length) {
    if (block.startsWith("'''", i)) {
      i = block.indexOf("'''", i + 3) + 3;
      continue;
    }
    const c = block[i]!;
    if (c === "'") {
      if (depth === 1 && lineStart) {
        const stop = skipString(block, i);
        const m = /^\s*:/.exec(block.slice(stop));
        if (m) keys.push(block.slice(i + 1, stop - 1));
        i = stop;
        lineStart = false;
        continue;
      }
      i = skipString(block, i);
      continue;
    }
    if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
    else if (c === "\n") {
      lineStart = true;
      i++;
      continue;
    } else if (depth === 1 && lineStart && /[A-Za-z_]/.test(c)) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*:/.exec(block.slice(i));
      if (m) keys.push(m[1]!);
    }
    if (!/\s/.test(c)) lineStart = false;
    i++;
  }
  return keys;
}

/** Items of a one-string-per-line array block `[ 'a' 'b' ]`. */
export function stringItems(block: string): string[] {
  return [...block.matchAll(/'([^'\n]*)'/g)].map((m) => m[1]!);
}

export interface ParamDecl {
  name: string;
  type: string;
  hasDefault: boolean;
  defaultText?: string;
}

export function params(src: string): ParamDecl[] {
  return [...stripComments(src).matchAll(/^param\s+(\w+)\s+(\w+)(?:\s*=\s*(.*))?$/gm)].map((m) => ({
    name: m[1]!,
    type: m[2]!,
    hasDefault: m[3] !== undefined,
    ...(m[3] !== undefined ? { defaultText: m[3].trim() } : {}),
  }));
}

export function outputs(src: string): string[] {
  return [...stripComments(src).matchAll(/^output\s+(\w+)\s+\w+\s*=/gm)].map((m) => m[1]!);
}

export interface ModuleCall {
  symbol: string;
  /** Path of the module file, relative to the repository root. */
  file: string;
  params: string[];
}

export function moduleCalls(path: string): ModuleCall[] {
  const src = read(path);
  const code = stripComments(src);
  const calls: ModuleCall[] = [];
  for (const m of code.matchAll(/^module\s+(\w+)\s+'([^']+)'\s*=/gm)) {
    const body = balancedFrom(src, (m.index ?? 0) + m[0].length).text;
    const p = body.indexOf("params:");
    calls.push({
      symbol: m[1]!,
      file: relative(ROOT, resolve(dirname(join(ROOT, path)), m[2]!)),
      params: p < 0 ? [] : topLevelKeys(balancedFrom(body, p).text),
    });
  }
  return calls;
}

/** Resource declarations of one type, with the comment lines right above each. */
export function resources(src: string, typePrefix: string): { symbol: string; type: string; comment: string; body: string }[] {
  const out: { symbol: string; type: string; comment: string; body: string }[] = [];
  const re = /^resource\s+(\w+)\s+'([^'@]+)@[^']+'\s*=/gm;
  for (const m of src.matchAll(re)) {
    if (!m[2]!.startsWith(typePrefix)) continue;
    const before = src.slice(0, m.index).split("\n");
    before.pop();
    const comment: string[] = [];
    while (before.length && /^\s*\/\//.test(before[before.length - 1]!)) comment.unshift(before.pop()!.replace(/^\s*\/\/\s?/, ""));
    out.push({ symbol: m[1]!, type: m[2]!, comment: comment.join(" "), body: balancedFrom(src, (m.index ?? 0) + m[0].length).text });
  }
  return out;
}
