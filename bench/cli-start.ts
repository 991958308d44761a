// `npm run bench -- cli-start [--runs N]`: how long the `keyrotor` CLI takes to start and answer a
// command that needs no server, in its installed form (the compiled CLI, as `npm install -g` from the
// clone or a built package runs it: bin/keyrotor loads dist/lib/cli/main.js) and, for comparison, as
// a clone runs it before a build (bin/keyrotor through tsx) and a bare `node` start. The installed
// form is built in a temporary directory laid out like the package (package.json, bin/keyrotor,
// dist/, node_modules linked), never in this working tree: bin/keyrotor prefers a dist/ it finds.
// Per run: the wall time from spawn to exit, and the process's own CPU time (user + system, read by
// a preloaded exit hook), which a busy machine does not inflate the way it inflates wall time. The
// figures are the median, p90 and minimum over the runs.
import { spawn } from "node:child_process";
import { copyFile, mkdir, readFile, rename, symlink, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import path from "node:path";
import { compileForNode } from "./_compile";

const REPO = path.resolve(__dirname, "..");

interface Figures {
  medianMs: number;
  p90Ms: number;
  minMs: number;
}

/** Preloaded into each measured process: reports its CPU time on fd 3 as it exits. */
const CPU_HOOK = `process.on("exit", () => { const u = process.cpuUsage(); try { require("node:fs").writeSync(3, JSON.stringify(u)); } catch {} });\n`;
let hookFile = "";

function exitOf(cmd: string, args: string[], cwd: string): Promise<{ ms: number; cpuMs: number; code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    // A clean environment for the CLI: no KEYROTOR_* settings from the caller.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("KEYROTOR_") && k !== "NODE_OPTIONS"));
    const child = spawn(cmd, ["--require", hookFile, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe", "pipe"] });
    let out = "";
    let cpu = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    (child.stdio[3] as NodeJS.ReadableStream).on("data", (d: Buffer) => (cpu += d.toString()));
    child.once("error", reject);
    child.once("close", (code) => {
      const u = cpu ? (JSON.parse(cpu) as { user: number; system: number }) : { user: NaN, system: NaN };
      resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, cpuMs: (u.user + u.system) / 1000, code, out });
    });
  });
}

function figures(samples: number[]): Figures {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { medianMs: Math.round(at(0.5)), p90Ms: Math.round(at(0.9)), minMs: Math.round(s[0]!) };
}

async function measure(label: string, cmd: string, args: string[], cwd: string, runs: number, expect: (out: string) => boolean): Promise<{ wall: Figures; cpu: Figures }> {
  const warm = await exitOf(cmd, args, cwd); // fills the OS file cache; not counted
  if (warm.code !== 0 || !expect(warm.out)) throw new Error(`[keyrotor] [bench] ${label}: exit ${warm.code}: ${warm.out.slice(0, 500)}`);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await exitOf(cmd, args, cwd);
    if (r.code !== 0) throw new Error(`[keyrotor] [bench] ${label}: exit ${r.code}: ${r.out.slice(0, 500)}`);
    wall.push(r.ms);
    cpu.push(r.cpuMs);
  }
  const f = { wall: figures(wall), cpu: figures(cpu) };
  process.stderr.write(`${label.padEnd(42)} wall median ${f.wall.medianMs} ms (p90 ${f.wall.p90Ms}, min ${f.wall.minMs})  cpu median ${f.cpu.medianMs} ms (min ${f.cpu.minMs})\n`);
  return f;
}

/** The package as installed: package.json, bin/keyrotor and the compiled dist/ side by side. */
async function installedForm(): Promise<{ root: string; remove(): Promise<void> }> {
  const main = path.join(REPO, "lib", "cli", "main.ts");
  const tree = await compileForNode([main]);
  const out = path.dirname(path.dirname(path.dirname(tree.outPath(main)))); // <tmp>/out
  const root = path.dirname(out);
  await rename(out, path.join(root, "dist"));
  await mkdir(path.join(root, "bin"));
  await copyFile(path.join(REPO, "bin", "keyrotor"), path.join(root, "bin", "keyrotor"));
  await copyFile(path.join(REPO, "package.json"), path.join(root, "package.json"));
  await symlink(path.join(REPO, "node_modules"), path.join(root, "node_modules"), "dir");
  return { root, remove: () => tree.remove() };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const i = args.indexOf("--runs");
  const runs = i >= 0 ? Number(args[i + 1]) : 15;
  if (!Number.isInteger(runs) || runs < 1) throw new Error("[keyrotor] [bench] --runs must be a whole number of at least 1");
  const version = (JSON.parse(await readFile(path.join(REPO, "package.json"), "utf8")) as { version: string }).version;
  const isVersion = (out: string) => out.trim() === version;
  const isHelp = (out: string) => out.includes("Usage: keyrotor");

  process.stderr.write("building the installed form (compiled CLI) in a temporary directory…\n");
  const pkg = await installedForm();
  hookFile = path.join(pkg.root, "cpu-hook.cjs");
  await writeFile(hookFile, CPU_HOOK);
  try {
    const node = process.execPath;
    const installedVersion = await measure("installed: keyrotor --version", node, [path.join(pkg.root, "bin", "keyrotor"), "--version"], pkg.root, runs, isVersion);
    const installedHelp = await measure("installed: keyrotor --help", node, [path.join(pkg.root, "bin", "keyrotor"), "--help"], pkg.root, runs, isHelp);
    const installedPlanHelp = await measure("installed: keyrotor plan --help", node, [path.join(pkg.root, "bin", "keyrotor"), "plan", "--help"], pkg.root, runs, isHelp);
    const clone = await measure("clone (tsx): node bin/keyrotor --version", node, [path.join(REPO, "bin", "keyrotor"), "--version"], REPO, runs, isVersion);
    const bare = await measure("node -e '' (Node's own start)", node, ["-e", ""], REPO, runs, () => true);
    return {
      runs,
      node: process.version,
      installed: { version: installedVersion, help: installedHelp, planHelp: installedPlanHelp },
      clone: { version: clone },
      bareNode: bare,
      /** The CLI's own share of the installed --version start (median CPU time over bare Node's). */
      installedCpuOverNodeMs: installedVersion.cpu.medianMs - bare.cpu.medianMs,
      load: loadavg().map((l) => Math.round(l * 10) / 10),
    };
  } finally {
    await pkg.remove();
  }
}
