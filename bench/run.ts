// `npm run bench -- <name> [options]`: progress on stderr, one final JSON line on stdout.
import { readdirSync } from "node:fs";
import path from "node:path";

interface BenchModule {
  run(args: string[]): Promise<Record<string, unknown>>;
}

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  const available = readdirSync(__dirname)
    .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.startsWith("_"))
    .map((f) => f.replace(/\.ts$/, ""));
  if (!name || !available.includes(name)) {
    process.stderr.write(`usage: npm run bench -- <${available.join("|")}> [options]\n`);
    process.exit(2);
  }
  const mod = (await import(path.join(__dirname, `${name}.ts`))) as BenchModule;
  const result = await mod.run(args);
  process.stdout.write(`${JSON.stringify({ bench: name, ...result })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`[keyrotor] [bench] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
