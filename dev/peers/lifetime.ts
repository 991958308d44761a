// `npm start` and the peers run alone (`npm run peer:*`, a bench's child peer) end when whatever
// launched them ends, however that ended. Under npm they run as npm → sh → tsx → this process, and
// tsx relays signals but not its own death: a kill -9 of npm or tsx (an OOM kill, a crashed
// supervisor, a killed bench) would leave this process, its ports and its stand-ins running with
// nobody to stop them. So each watches its launchers and stops itself when one is gone.
import { readFileSync } from "node:fs";

/** Parent pid of `pid` from /proc (Linux), or undefined where there is no /proc. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}

/**
 * The processes whose end should end this one: the parent, and when an npm script runs us
 * (npm_lifecycle_event is set), every ancestor up to and including npm itself — no further: the
 * shell or terminal above npm has its own ways (SIGHUP) and a `nohup npm start &` must survive it.
 */
export function launchers(env: NodeJS.ProcessEnv = process.env): number[] {
  const chain = [process.ppid];
  if (!env.npm_lifecycle_event) return chain;
  for (let pid = process.ppid, depth = 0; pid > 1 && depth < 6; depth++) {
    if (/(^|[/\s])npm(-cli\.js)?(\s|$)/.test(commandLine(pid))) return chain;
    const up = parentOf(pid);
    if (up === undefined || up <= 1) break;
    chain.push(up);
    pid = up;
  }
  return [process.ppid]; // npm not found above us: watch the parent only.
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Calls `onGone(pid)` once, when the parent changes (this process was re-parented: its parent
 * died) or another launcher no longer exists. The poll never keeps the process alive. Returns a
 * function that stops watching.
 */
export function watchLaunchers(onGone: (pid: number) => void, intervalMs = 500, watched = launchers()): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    const gone = process.ppid !== parent ? parent : watched.find((pid) => !alive(pid));
    if (gone === undefined) return;
    clearInterval(timer);
    onGone(gone);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
