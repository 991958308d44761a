// The templates through the real Bicep compiler and linter (issue 16), wherever the CLI is
// installed; without it these tests skip with a notice (the template tests still read the source).
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { BICEP_INSTALL_HINT, findBicep } from "../../support/bicepCli";
import { bicepFiles, ROOT } from "./bicep";

const run = promisify(execFile);
const bicep = findBicep();
const PATTERN = "infra/**/*.bicep";
// The CLI is a .NET program: a few seconds alone, far more on a machine busy with the other tests.
const BICEP_TIMEOUT = 180_000;

interface Diagnostic {
  file: string;
  line: number;
  level: "Error" | "Warning" | "Info";
  code: string;
  message: string;
}

/**
 * Lint warnings kept on purpose, each with the reason (file relative to the repository root,
 * rule id). A warning not listed here fails the test, and so does an entry no warning matches.
 */
const JUSTIFIED: { file: string; code: string; why: string }[] = [];

/** Bicep's default diagnostics format: `path(line,col) : Level code: message`. */
function parseDiagnostics(output: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const m of output.matchAll(/^(.+?)\((\d+),\d+\) : (Error|Warning|Info) ([\w-]+): (.*)$/gm)) {
    out.push({ file: relative(ROOT, m[1]!), line: Number(m[2]), level: m[3] as Diagnostic["level"], code: m[4]!, message: m[5]! });
  }
  return out;
}

async function bicepRun(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const r = await run(bicep!, args, { cwd: ROOT, encoding: "utf8", timeout: 120_000, env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: "1" } });
    return { code: 0, output: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === "number" ? err.code : -1, output: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

const show = (ds: Diagnostic[]) => ds.map((d) => `${d.file}:${d.line} ${d.level} ${d.code}: ${d.message}`).join("\n");

describe("the Bicep templates through the real Bicep CLI", () => {
  if (!bicep) {
    // Printed to stderr directly so the notice shows through the reporter's silencing of logs.
    process.stderr.write(`[keyrotor] [bicep] no Bicep CLI found: bicep build/lint of infra/ are SKIPPED (${BICEP_INSTALL_HINT})\n`);
    it.skip(`SKIPPED, no Bicep CLI: ${BICEP_INSTALL_HINT}`, () => {});
    return;
  }

  const outDir = mkdtempSync(join(tmpdir(), "keyrotor-bicep-"));
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it("builds every .bicep file under infra/ into ARM JSON with no error and no warning", async () => {
    const { code, output } = await bicepRun(["build", "--pattern", PATTERN, "--outdir", outDir]);
    const diagnostics = parseDiagnostics(output).filter((d) => d.level !== "Info");
    expect(show(diagnostics)).toBe("");
    expect(code, output).toBe(0);
    const built = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? built(join(dir, e.name)).map((f) => `${e.name}/${f}`) : [e.name]));
    const expected = bicepFiles().map((f) => relative("infra", f).replace(/\.bicep$/, ".json"));
    expect(built(outDir).sort()).toEqual(expected.sort());
  }, BICEP_TIMEOUT);

  it("lints every .bicep file under infra/ with no error and no warning left unexplained", async () => {
    const { code, output } = await bicepRun(["lint", "--pattern", PATTERN]);
    const diagnostics = parseDiagnostics(output);
    expect(show(diagnostics.filter((d) => d.level === "Error"))).toBe("");
    expect(code, output).toBe(0);
    const warnings = diagnostics.filter((d) => d.level === "Warning");
    const justified = (d: Diagnostic) => JUSTIFIED.some((j) => j.file === d.file && j.code === d.code);
    expect(show(warnings.filter((d) => !justified(d)))).toBe("");
    for (const j of JUSTIFIED) expect(warnings.some((d) => d.file === j.file && d.code === j.code), `stale justification ${j.file} ${j.code}`).toBe(true);
  }, BICEP_TIMEOUT);
});

describe("Bicep diagnostics parsing", () => {
  it("reads file, line, level and rule from Bicep's default format", () => {
    const ds = parseDiagnostics(`${ROOT}/infra/main.bicep(221,16) : Warning no-unnecessary-dependson: Remove unnecessary dependsOn entry 'hostStorage'. [https://aka.ms/x]\n`);
    expect(ds).toEqual([{ file: "infra/main.bicep", line: 221, level: "Warning", code: "no-unnecessary-dependson", message: "Remove unnecessary dependsOn entry 'hostStorage'. [https://aka.ms/x]" }]);
  });
});
