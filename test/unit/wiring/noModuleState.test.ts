// No module-level mutable dependency state in lib/ or functions/: every adapter reaches a handler
// through the composition (lib/compose.ts), which a worker keeps in its own app hook data
// (functions/_app.ts), never through a variable a module keeps and someone sets or builds on first
// use (two workers in one process would share it). The few module-level variables that remain are listed here with the reason they
// hold no dependency; a new one fails this test until it is removed or argued for here.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "../../..");
const LIB = path.join(ROOT, "lib");
const FUNCTIONS = path.join(ROOT, "functions");

const ALLOWED: Record<string, string> = {
  "telemetry/init.ts:active": "OpenTelemetry's providers are process-global by the SDK's design; started once per process",
  "telemetry/metrics.ts:current": "the instruments of that process-global meter provider",
  "telemetry/log.ts:defaultSink": "where log lines go (stdout), a process property",
  "identity.ts:defaultCredential": "DefaultAzureCredential's token cache, shared per process; the settings passed on each call choose the credential",
  "secrets/compose.ts:defaultCredential": "the same token cache for ARM",
  "identity.ts:caCache": "CA file contents by path: a file read, no adapter",
  "stores/tableQuery.ts:sharedHttpClient": "the HTTP connection pool (keep-alive), no adapter",
  "orchestration/flows/act.ts:grants": "lock grants per orchestration execution, keyed by its context",
  "api/healthComponents.ts:recentProbes": "probe results keyed by the composition's own vault reader",
  "hierarchy/durableDeks.ts:writers": "a DEK writer (its branch-key cache) keyed by the composition's own hierarchy runtime: two compositions never share one",
  "domain/policy.ts:compiled": "a pure memo of compiled policies",
  "domain/schedule.ts:timelines": "a pure memo of parsed cron timelines",
  "functions/_app.ts:attached": "each invocation's composition keyed by its InvocationContext, set by preInvocation from the worker's app hook data; nothing outlives the invocation",
};

function libFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? libFiles(p) : e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

const MUTABLE_COLLECTIONS = new Set(["Map", "WeakMap"]);

/** `file:name` (relative to lib/, or `functions/...`) of every top-level `let`/`var`, and of every top-level const holding a Map, a WeakMap
 * or an empty Set (a cache or a registry someone fills). */
export function moduleState(file: string, text: string): string[] {
  const src = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: string[] = [];
  for (const st of src.statements) {
    if (!ts.isVariableStatement(st)) continue;
    const mutable = !(st.declarationList.flags & ts.NodeFlags.Const);
    for (const d of st.declarationList.declarations) {
      const name = d.name.getText(src);
      const init = d.initializer;
      const collection = init !== undefined && ts.isNewExpression(init) && ts.isIdentifier(init.expression)
        && (MUTABLE_COLLECTIONS.has(init.expression.text) || (init.expression.text === "Set" && (init.arguments ?? []).length === 0));
      const rel = path.relative(file.startsWith(FUNCTIONS + path.sep) ? ROOT : LIB, file).split(path.sep).join("/");
      if (mutable || collection) found.push(`${rel}:${name}`);
    }
  }
  return found;
}

describe("module-level state in lib/ and functions/", () => {
  it("holds no dependency: every module-level variable or cache is one of the argued exceptions", () => {
    const found = [...libFiles(LIB), ...libFiles(FUNCTIONS)].flatMap((f) => moduleState(f, readFileSync(f, "utf8")));
    expect(found.filter((k) => !(k in ALLOWED))).toEqual([]);
  });

  it("finds a setter's variable, a first-use singleton and a registry map (the shapes the composition root replaced)", () => {
    const old = [
      "let installed: RotationDeps | undefined;",
      "export function setRotationDeps(d: RotationDeps | undefined): void { installed = d; }",
      "const adapters = new Map<string, KeyVaultAdapter>();",
      "const FINISHED = new Set([\"Completed\"]);",
    ].join("\n");
    expect(moduleState(path.join(LIB, "orchestration/deps.ts"), old)).toEqual(["orchestration/deps.ts:installed", "orchestration/deps.ts:adapters"]);
  });

  it("finds the composition a function module kept for every worker in the process (the shape functions/_app.ts replaced)", () => {
    const old = "let composed: Promise<Composition> | undefined;\nexport function composition() { composed ??= start(); return composed; }";
    const found = moduleState(path.join(FUNCTIONS, "_app.ts"), old);
    expect(found).toEqual(["functions/_app.ts:composed"]);
    expect(found.filter((k) => !(k in ALLOWED))).toEqual(["functions/_app.ts:composed"]);
  });
});
