// Finds the JSON examples of README.md and docs/*.md: curl commands with a -d body, fenced ```json
// blocks (each preceded by a marker `<!-- example: <routeName> request|response -->` naming what it
// is, routeName as in lib/api/routes.ts), and inline code spans that are JSON objects.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { ROUTE_LIST, type RouteSpec } from "../../../lib/api/routes";

export const ROOT = path.resolve(__dirname, "../../..");

export function docFiles(): string[] {
  const docs = readdirSync(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md")).sort().map((f) => `docs/${f}`);
  return ["README.md", ...docs];
}

export interface CurlExample {
  where: string;
  method: string;
  /** The path under the host, from /api on, query dropped. */
  path: string;
  route: RouteSpec;
  params: Record<string, string>;
  body: string;
}

export interface FencedExample {
  where: string;
  /** undefined: no marker above the block. */
  marker?: { route: string; part: "request" | "response" };
  text: string;
}

export interface InlineExample {
  where: string;
  text: string;
}

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split("\n").length;
}

/** The route a concrete path is served by, and its parameters (decoded). Literal segments outrank
 * parameters, like the Functions host. */
export function matchRoute(method: string, apiPath: string): { route: RouteSpec; params: Record<string, string> } | undefined {
  const segs = apiPath.replace(/^\/api\//, "").split("/");
  const hits: { route: RouteSpec; params: Record<string, string>; literals: number }[] = [];
  for (const route of ROUTE_LIST) {
    if (route.method !== method) continue;
    const tpl = route.route.split("/");
    const params: Record<string, string> = {};
    let literals = 0;
    let ok = true;
    for (let i = 0; i < tpl.length && ok; i++) {
      const t = tpl[i]!;
      const m = /^\{(\*)?([A-Za-z0-9_]+)(?::[^}?]*)?(\?)?\}$/.exec(t);
      if (!m) {
        ok = segs[i] === t;
        literals++;
      } else if (m[1]) {
        ok = segs.length > i;
        params[m[2]!] = decodeURIComponent(segs.slice(i).join("/"));
        i = tpl.length;
      } else if (segs[i] === undefined) ok = m[3] === "?" && i === segs.length;
      else params[m[2]!] = decodeURIComponent(segs[i]!);
    }
    if (ok && (tpl.some((t) => t.startsWith("{*")) || segs.length <= tpl.length)) hits.push({ route, params, literals });
  }
  hits.sort((a, b) => b.literals - a.literals);
  return hits[0];
}

/** The shell command starting at `from`: up to a newline outside single quotes and not escaped. */
function shellCommand(text: string, from: number): string {
  let quoted = false;
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (ch === "'") quoted = !quoted;
    else if (ch === "\\" && !quoted && text[i + 1] === "\n") i++;
    else if (ch === "\n" && !quoted) return text.slice(from, i).replace(/\\\n/g, " ");
  }
  return text.slice(from);
}

/** curl commands with a -d/--data body, continuation lines joined. */
export function curlExamples(file: string): CurlExample[] {
  const text = readFileSync(path.join(ROOT, file), "utf8");
  const out: CurlExample[] = [];
  for (const m of text.matchAll(/\bcurl\s/g)) {
    const cmd = shellCommand(text, m.index);
    const data = /(?:-d|--data(?:-raw)?)\s+'([^']*)'/.exec(cmd);
    if (!data) continue;
    const where = `${file}:${lineOf(text, m.index)}`;
    const method = /-X\s+([A-Z]+)/.exec(cmd)?.[1] ?? "POST";
    const url = /["']?(?:\$API|https?:\/\/[^/\s"']+)(\/api\/[^\s"'?]*)/.exec(cmd);
    if (!url) throw new Error(`${where}: a curl example with a body but no /api URL`);
    const hit = matchRoute(method, url[1]!);
    if (!hit) throw new Error(`${where}: ${method} ${url[1]} is no route of the API`);
    out.push({ where, method, path: url[1]!, ...hit, body: data[1]! });
  }
  return out;
}

export function fencedJsonExamples(file: string): FencedExample[] {
  const text = readFileSync(path.join(ROOT, file), "utf8");
  const out: FencedExample[] = [];
  for (const m of text.matchAll(/(?:<!--\s*example:\s*([A-Za-z]+)\s+(request|response)\s*-->\s*\n)?[ \t]*```json[ \t]*\n([\s\S]*?)\n[ \t]*```/g)) {
    out.push({
      where: `${file}:${lineOf(text, m.index)}`,
      ...(m[1] ? { marker: { route: m[1], part: m[2] as "request" | "response" } } : {}),
      text: m[3]!,
    });
  }
  return out;
}

/** Inline code spans (outside fenced blocks) that parse as a JSON object. */
export function inlineJsonExamples(file: string): InlineExample[] {
  const text = readFileSync(path.join(ROOT, file), "utf8").replace(/```[\s\S]*?```/g, (b) => b.replace(/[^\n]/g, " "));
  const out: InlineExample[] = [];
  for (const m of text.matchAll(/`(\{[^`]*\})`/g)) {
    try {
      const v: unknown = JSON.parse(m[1]!);
      if (v && typeof v === "object") out.push({ where: `${file}:${lineOf(text, m.index)}`, text: m[1]! });
    } catch {
      // A sketch such as `{policyId, tenant}`: not JSON, not an example body.
    }
  }
  return out;
}
