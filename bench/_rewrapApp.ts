// The app files the rewrap bench's measured process loads into the host for a KEK rotation (the
// bench compiles the same list). Named with a leading "_" so bench/run.ts does not list it as a bench.
import path from "node:path";
import { DURABLE } from "../lib/orchestration/names";

/** Absolute paths of the functions a KEK rotation runs, with the extension the process runs from. */
export function rotationFunctionFiles(ext: string): string[] {
  return ["rotationOrchestrator", "rewrapOrchestrator", "keyLock", ...Object.values(DURABLE.activities)]
    .map((f) => path.resolve(__dirname, "..", "functions", `${f}${ext}`));
}
