// Compiles a bench's measured process (its entry files and everything they import) to plain
// CommonJS in a temporary directory, so it runs under `node` alone. Under tsx (what `npm run bench`
// uses) a process also carries tsx's loader-hook thread and esbuild's sync worker, each with its own
// V8 heap, and every transformed file keeps an inline source map: ~50 MB of resident memory that
// belongs to the dev tooling, not to the system the bench measures.
// Type-checking is `npm run lint`'s job: `noCheck` only transpiles (a few seconds). Named with a
// leading "_" so bench/run.ts does not list it as a bench.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

const REPO = path.resolve(__dirname, "..");

export interface CompiledTree {
  /** Where `src` (a .ts file of this repository) was compiled to. */
  outPath(src: string): string;
  /** For the compiled process's environment: its files live outside the repository, so bare
   * imports resolve through NODE_PATH to the repository's node_modules. */
  nodePath: string;
  remove(): Promise<void>;
}

/** Compiles `entries` (absolute .ts paths in this repository) with the repository's tsconfig. */
export async function compileForNode(entries: string[]): Promise<CompiledTree> {
  const dir = await mkdtemp(path.join(tmpdir(), "keyrotor-bench-"));
  const outDir = path.join(dir, "out");
  const config = path.join(dir, "tsconfig.json");
  await writeFile(config, JSON.stringify({
    extends: path.join(REPO, "tsconfig.json"),
    compilerOptions: { noEmit: false, noCheck: true, sourceMap: false, declaration: false, incremental: false, rootDir: REPO, outDir },
    files: entries,
    include: [],
  }));
  const outPath = (src: string): string => path.join(outDir, path.relative(REPO, src)).replace(/\.ts$/, ".js");
  const tsc = path.join(REPO, "node_modules", "typescript", "bin", "tsc");
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, "-p", config], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    child.stdout.on("data", (d: Buffer) => (text += d.toString()));
    child.stderr.on("data", (d: Buffer) => (text += d.toString()));
    child.once("error", reject);
    child.once("exit", () => resolve(text));
  });
  // tsc exits non-zero on any diagnostic yet still emits; only missing output is fatal.
  const missing = entries.filter((e) => !existsSync(outPath(e)));
  if (missing.length > 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`[keyrotor] [bench] compiling ${missing.map((m) => path.relative(REPO, m)).join(", ")} produced no output: ${output.slice(0, 2000)}`);
  }
  return { outPath, nodePath: path.join(REPO, "node_modules"), remove: () => rm(dir, { recursive: true, force: true }) };
}
