// What benches read about processes from /proc (Linux): CPU time so far and /proc/<pid>/status
// fields (peak resident set, threads). Named with a leading "_"
// so bench/run.ts does not list it as a bench.
import { readFileSync } from "node:fs";

/** USER_HZ: 100 on every Linux the benches run on. */
const CLOCK_TICKS_PER_SEC = 100;

/** CPU time (user + system) of a process so far, in ms; undefined where it cannot be read. */
export function cpuMsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * (1000 / CLOCK_TICKS_PER_SEC) : undefined;
  } catch {
    return undefined;
  }
}

/** A numeric field of /proc/<pid>/status (e.g. VmHWM in kB, Threads); undefined where it cannot be
 * read (not Linux, or the process is gone). */
export function procStatus(pid: number | "self" | undefined, field: string): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Peak resident set (VmHWM) of a process, in MB. */
export function peakRssMb(pid: number | "self" | undefined): number | undefined {
  const kb = procStatus(pid, "VmHWM");
  return kb === undefined ? undefined : Math.round(kb / 1024);
}
